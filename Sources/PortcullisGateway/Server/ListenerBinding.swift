import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig

/// What a bound listener applies to each connection it accepts: its name (whose
/// authentication policy applies), its TLS context store and its HTTP/2 settings. Read once per
/// accepted connection; a reload that changes them without moving the address updates them
/// in place, so the listening socket stays open.
final class ListenerBinding: Sendable {
    struct Settings: Sendable {
        let name: String
        let tls: TLSContextStore?
        let http2: HTTP2Spec
    }

    private let box: NIOLockedValueBox<Settings>

    init(_ settings: Settings) {
        self.box = NIOLockedValueBox(settings)
    }

    var settings: Settings { self.box.withLockedValue { $0 } }

    func update(_ settings: Settings) {
        self.box.withLockedValue { $0 = settings }
    }
}
