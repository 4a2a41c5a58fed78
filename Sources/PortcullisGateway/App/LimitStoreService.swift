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
            var renewedAt = ContinuousClock.now
            while !Task.isCancelled {
                // Each second: orphaned leases go back; every third of the TTL: the held ones are renewed.
                do {
                    try await Task.sleep(for: .seconds(1))
                } catch {
                    return
                }
                let ttl = self.stores.current.map { $0.spec.leaseTTLNanos } ?? 3_000_000_000
                let renew = ContinuousClock.now - renewedAt >= .nanoseconds(ttl / 3) - .milliseconds(500)
                if renew { renewedAt = ContinuousClock.now }
                for store in self.stores.all {
                    await store.releaseOrphans(on: self.loop)
                    if renew { await store.renewLeases(on: self.loop) }
                }
                await self.stores.shutDownIdleRetired()
            }
        }
        await self.stores.shutdown()
    }
}
