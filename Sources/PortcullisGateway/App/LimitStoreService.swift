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
            var renewedAt: [ObjectIdentifier: ContinuousClock.Instant] = [:]
            while !Task.isCancelled {
                // Each tick (a second, or a third of the shortest TTL): orphaned leases go back;
                // each store's held leases are renewed every third of its own TTL.
                let stores = self.stores.all
                let shortest = stores.map(\.spec.leaseTTLNanos).min() ?? 3_000_000_000
                do {
                    try await Task.sleep(for: .nanoseconds(min(1_000_000_000, shortest / 3)))
                } catch {
                    return
                }
                let now = ContinuousClock.now
                for store in stores {
                    await store.releaseOrphans(on: self.loop)
                    let id = ObjectIdentifier(store)
                    let due = renewedAt[id].map { now - $0 >= .nanoseconds(store.spec.leaseTTLNanos / 3) - .milliseconds(100) } ?? true
                    if due {
                        renewedAt[id] = now
                        await store.renewLeases(on: self.loop)
                    }
                }
                await self.stores.shutDownIdleRetired()
                let live = Set(self.stores.all.map { ObjectIdentifier($0) })
                renewedAt = renewedAt.filter { live.contains($0.key) }
            }
        }
        await self.stores.shutdown()
    }
}
