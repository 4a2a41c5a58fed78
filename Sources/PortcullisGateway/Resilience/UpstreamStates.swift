import NIOConcurrencyHelpers
import PortcullisConfig

/// Every backend's runtime state by name, for the life of the process: a reload keeps the
/// breakers' counts, ejections and health of backends and endpoints it still lists (runtime
/// state lives outside the snapshot). Touched only when a snapshot is built and by the
/// health checker and scrapes, never per request.
public final class UpstreamStates: Sendable {
    private let backends = NIOLockedValueBox<[String: BackendState]>([:])

    public init() {}

    func backend(_ name: String) -> BackendState {
        self.backends.withLockedValue { backends in
            if let existing = backends[name] { return existing }
            let state = BackendState(name: name)
            backends[name] = state
            return state
        }
    }

    /// The runtime view of each of `config`'s backends, by ``Backend/index``.
    func resolve(_ config: ConfigSnapshot) -> [BackendRuntime] {
        config.backends.map { backend in
            let state = self.backend(backend.name)
            let endpoints = backend.endpoints.map { state.endpoint($0.key) }
            // Without health checks (now), an earlier verdict must not keep an endpoint out.
            if backend.healthCheck == nil { for endpoint in endpoints { endpoint.forgetHealth() } }
            return BackendRuntime(state: state, endpoints: endpoints)
        }
    }
}
