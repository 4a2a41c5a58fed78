import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// Flushes every loop's access-log buffer once everything before it in the group has stopped
/// (it is first in the group, so it stops last: after the drain, nothing is left unwritten).
struct AccessLogService: Service {
    let server: GatewayServer

    func run() async {
        try? await gracefulShutdown()
        await self.server.flushAccessLogs()
    }
}

/// The in-process mock backend of the quickstart; it stops after the listeners have drained,
/// so streams in flight to it finish.
struct MockService: Service {
    let mock: MockBackend

    func run() async {
        try? await gracefulShutdown()
        await self.mock.close()
    }
}

/// The admin listener; it stays up while the data listeners drain, so `/readyz` can say so.
struct AdminService: Service {
    let admin: EmbeddedHTTPServer

    func run() async {
        try? await gracefulShutdown()
        await self.admin.close()
    }
}

/// Keeps every JWT provider's keys fresh (one refresh loop per provider, including providers a
/// reload adds) until the stop.
struct JWKSRefreshService: Service {
    let registry: JWTProviderRegistry

    func run() async {
        await cancelWhenGracefulShutdown {
            await self.registry.run()
        }
        await self.registry.shutdown()
    }
}

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
