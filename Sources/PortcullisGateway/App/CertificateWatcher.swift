import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// Re-reads listener certificate, key and CA files when they change, each at its listener's
/// `tls.reloadInterval` (a failed load keeps the previous context).
struct CertificateWatcher: Service {
    let listeners: ListenerSet
    static let tick = TimeAmount.seconds(1)

    func run() async {
        await cancelWhenGracefulShutdown {
            var lastChecked: [ObjectIdentifier: NIODeadline] = [:]
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(Self.tick.nanoseconds))
                if Task.isCancelled { break }
                let now = NIODeadline.now()
                for store in self.listeners.tlsStores where store.spec.reloadIntervalNanos > 0 {
                    let id = ObjectIdentifier(store)
                    if let last = lastChecked[id], now < last + .nanoseconds(store.spec.reloadIntervalNanos) { continue }
                    lastChecked[id] = now
                    store.reloadIfChanged()
                }
            }
        }
    }
}
