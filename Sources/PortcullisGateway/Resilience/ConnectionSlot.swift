import Atomics

/// A connection's place under its backend's `maxConnections`, taken when its connect begins
/// (``BackendState/beginConnect(_:)``) and given back exactly once, whichever comes first: the
/// connect failing, or the connection's handler leaving its closed channel.
final class ConnectionSlot: Sendable {
    private let state: BackendState
    private let released = ManagedAtomic<Bool>(false)

    init(_ state: BackendState) {
        self.state = state
    }

    func release() {
        if !self.released.exchange(true, ordering: .relaxed) {
            self.state.connections.wrappingDecrement(ordering: .relaxed)
        }
    }
}
