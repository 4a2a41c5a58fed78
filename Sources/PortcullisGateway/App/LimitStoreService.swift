import NIOCore
import ServiceLifecycle

/// Keeps the shared limit store's leases alive: every third of the lease TTL, the leases this
/// replica holds are renewed, so a slot outlives a crashed replica by at most one TTL and a
/// live stream never loses its slot. Placed before the listeners in the service group, so it
/// stops after they have drained (streams finishing in the drain keep their leases), and then
/// closes the stores' connections.
struct LimitStoreService: Service {
    let stores: SharedLimitStores
    let loop: any EventLoop

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let interval = self.stores.current.map { $0.spec.leaseTTLNanos / 3 } ?? 1_000_000_000
                do {
                    try await Task.sleep(for: .nanoseconds(interval))
                } catch {
                    return
                }
                for store in self.stores.all { await store.renewLeases(on: self.loop) }
            }
        }
        await self.stores.shutdown()
    }
}
