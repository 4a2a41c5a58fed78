import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig

/// The shared (Redis) limit stores of the process: the one the current config names, reused by
/// every reload that names the same server and settings, and those earlier configs named,
/// kept (and their leases renewed) until the process stops, since requests that started under
/// an earlier config still settle there.
final class SharedLimitStores: Sendable {
    private struct State {
        var current: SharedLimitStore?
        var retired: [SharedLimitStore] = []
    }

    private let state = NIOLockedValueBox(State())

    /// The store for `spec` (nil: limits are in memory).
    func store(for spec: RedisStoreSpec?, group: any EventLoopGroup, logger: Logger) -> SharedLimitStore? {
        self.state.withLockedValue { state in
            if let current = state.current, current.spec == spec { return current }
            if let current = state.current { state.retired.append(current) }
            state.current = spec.map { SharedLimitStore(spec: $0, group: group, logger: logger) }
            return state.current
        }
    }

    var current: SharedLimitStore? { self.state.withLockedValue { $0.current } }

    var all: [SharedLimitStore] {
        self.state.withLockedValue { state in (state.current.map { [$0] } ?? []) + state.retired }
    }

    /// Closes the stores earlier configs named once nothing is held, owed or pending there: no
    /// lease, no release to retry, no check in flight and no request left to settle.
    func shutDownIdleRetired() async {
        let idle = self.state.withLockedValue { state -> [SharedLimitStore] in
            let idle = state.retired.filter(\.isIdle)
            state.retired.removeAll { store in idle.contains { $0 === store } }
            return idle
        }
        for store in idle { await store.shutdown() }
    }

    func shutdown() async {
        let stores = self.state.withLockedValue { state -> [SharedLimitStore] in
            defer { state = State() }
            return (state.current.map { [$0] } ?? []) + state.retired
        }
        for store in stores { await store.shutdown() }
    }
}
