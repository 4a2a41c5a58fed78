import NIOCore
import PortcullisConfig

/// A snapshot's view of one backend's runtime state: the shared ``BackendState`` and the
/// states of the endpoints this snapshot lists, in their order (resolved once per snapshot, so
/// the request path indexes arrays and never looks a name up).
struct BackendRuntime: Sendable {
    let state: BackendState
    let endpoints: [EndpointState]

    /// Whether any endpoint may take traffic at `now`.
    func hasAvailableEndpoint(at now: NIODeadline) -> Bool {
        self.endpoints.contains { $0.isAvailable(at: now) }
    }

    /// Endpoints other than `index` that are ejected at `now`.
    func ejected(besides index: Int, at now: NIODeadline) -> Int {
        var count = 0
        for (i, endpoint) in self.endpoints.enumerated() where i != index && endpoint.isEjected(at: now) { count += 1 }
        return count
    }

    /// A call to endpoint `index` of `backend` failed; true when that ejected it.
    func recordFailure(of index: Int, backend: Backend, now: NIODeadline) -> Bool {
        self.endpoints[index].recordFailure(
            backend.outlierDetection, now: now, endpointCount: self.endpoints.count,
            ejectedElsewhere: self.ejected(besides: index, at: now))
    }
}
