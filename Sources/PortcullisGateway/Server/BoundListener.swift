import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig

/// A listening socket and what it applies.
struct BoundListener: Sendable {
    let spec: ListenerSpec
    let channel: any Channel
    let binding: ListenerBinding

    var name: String { self.spec.name }
    var port: Int { self.channel.localAddress?.port ?? 0 }
    var address: String { "\(self.spec.host):\(self.spec.port)" }
}
