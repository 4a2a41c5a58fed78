import NIOCore
import PortcullisCore

/// A compiled backend: where to send requests and how long to wait.
public final class Backend: Sendable {
    public let name: String
    /// Position in ``ConfigSnapshot/backends``; runtime state (round-robin cursors) is indexed by it.
    public let index: Int
    public let endpoints: [UpstreamEndpoint]
    public let connectTimeout: TimeAmount
    public let responseTimeout: TimeAmount
    public let idleTimeout: TimeAmount
    /// Dispatch to response head over every attempt (nil: no deadline beyond each attempt's).
    public let totalTimeout: TimeAmount?
    public let maxIdleConnections: Int
    /// Pooled connections unused longer than this are closed, not reused.
    public let keepAliveTimeout: TimeAmount
    /// PEM CA bundle for https endpoints (nil: system roots).
    public let caFile: String?
    /// The client certificate and key presented to https endpoints (nil: none).
    public let clientCertificate: (certificate: String, key: String)?
    /// SNI and the name verified in the backend's certificate (nil: the endpoint's host).
    public let serverName: String?
    public let signContext: SignContextSpec?
    /// Its own `region`, else the gateway's (nil: neither says).
    public let region: String?
    /// The backend's own credential, injected into every request (nil: none). A backend with
    /// one answers 401/403 to the gateway, not to the client: the client gets 502.
    public let credential: BackendCredential?
    public let circuitBreaker: CircuitBreakerSpec
    public let retries: RetrySpec
    public let outlierDetection: OutlierDetectionSpec
    public let healthCheck: HealthCheckSpec?
    public let balance: BalanceStrategy
    /// HTTP/2 toward the endpoints (see ``BackendSpec/http2``): one connection per endpoint and
    /// event loop, carrying many requests at once.
    public let http2: Bool

    init(spec: BackendSpec, index: Int, endpoints: [UpstreamEndpoint], gatewayRegion: String?) {
        self.region = spec.region ?? gatewayRegion
        self.credential = spec.credential.map(BackendCredential.init)
        self.circuitBreaker = spec.circuitBreaker
        self.retries = spec.retries
        self.outlierDetection = spec.outlierDetection
        self.healthCheck = spec.healthCheck
        self.balance = spec.balance
        self.http2 = spec.http2
        self.name = spec.name
        self.index = index
        self.endpoints = endpoints
        self.connectTimeout = .nanoseconds(spec.connectTimeoutNanos)
        self.responseTimeout = .nanoseconds(spec.responseTimeoutNanos)
        self.idleTimeout = .nanoseconds(spec.idleTimeoutNanos)
        self.totalTimeout = spec.totalTimeoutNanos.map(TimeAmount.nanoseconds)
        self.maxIdleConnections = spec.maxIdleConnections
        self.keepAliveTimeout = .nanoseconds(spec.keepAliveTimeoutNanos)
        self.caFile = spec.tls.ca
        if let certificate = spec.tls.certificate, let key = spec.tls.key {
            self.clientCertificate = (certificate, key)
        } else {
            self.clientCertificate = nil
        }
        self.serverName = spec.tls.serverName
        self.signContext = spec.signContext
    }

    /// Whether it runs in one of `regions` (nil: no limit). A backend with no region is in none.
    @inline(__always)
    public func isIn(_ regions: Set<String>?) -> Bool {
        guard let regions else { return true }
        return self.region.map(regions.contains) ?? false
    }
}

/// A compiled route: the backend a matched request goes to and what changes on the way.
public final class Route: Sendable {
    public let name: String
    /// Position in ``ConfigSnapshot/routes``.
    public let index: Int
    /// The preferred backend (the first of ``backends``).
    public var backend: Backend { self.backends[0] }
    /// The backends that may serve it, in order of preference (a tenant limited to regions
    /// gets the first in one of them), or the members of a weighted split.
    public let backends: [Backend]
    /// A weighted split's weights, one per backend (nil: ordered preference). Each request
    /// draws its backend by weight among those it may use (see ``backend(roll:in:)``); the
    /// others of the split, in their order, then ``fallbacks`` serve when that one cannot.
    /// A backend of weight 0 gets no traffic at all (a drained canary).
    public let weights: [Int]?
    /// Refuse top-level fields the endpoint's spec does not define.
    public let rejectsUnknownFields: Bool
    /// The external authorization service the route calls (nil: none).
    public let authorizer: ExternalAuthorizer?
    /// Model name sent upstream instead of the client's.
    public let rewriteModel: String?
    public let maxRequestBytes: Int
    /// True for path-prefix routes (the body is forwarded as is; no model is read from it).
    public let isPathRoute: Bool
    /// Send the client's own credential headers upstream.
    public let forwardClientCredentials: Bool
    /// Authentication methods this route accepts (nil: whatever the listener accepted).
    public let allowedMethods: Set<AuthMethod>?
    /// Header edits toward each of ``backends``, then each of ``fallbacks`` (same positions).
    public let edits: [HeaderEdits]
    /// The catch-all route: it serves whatever no other route matches.
    public let isCatchAll: Bool
    /// Tried in order when the chosen backend has no healthy endpoint or its breaker is open.
    public let fallbacks: [Backend]
    /// The route's own timeouts (nil: the backend's).
    public let connectTimeout: TimeAmount?
    public let responseTimeout: TimeAmount?
    public let idleTimeout: TimeAmount?
    public let totalTimeout: TimeAmount?

    init(
        name: String, index: Int, backends: [Backend], rewriteModel: String?, maxRequestBytes: Int, isPathRoute: Bool,
        forwardClientCredentials: Bool, allowedMethods: Set<AuthMethod>?, rejectsUnknownFields: Bool,
        authorizer: ExternalAuthorizer?, edits: [HeaderEdits], isCatchAll: Bool, fallbacks: [Backend] = [],
        weights: [Int]? = nil, timeouts: (connect: Int64?, response: Int64?, idle: Int64?) = (nil, nil, nil),
        totalTimeout: Int64? = nil
    ) {
        self.totalTimeout = totalTimeout.map(TimeAmount.nanoseconds)
        self.fallbacks = fallbacks
        precondition(weights.map { $0.count == backends.count && $0.reduce(0, +) > 0 } ?? true, "one weight per backend")
        self.weights = weights
        self.connectTimeout = timeouts.connect.map(TimeAmount.nanoseconds)
        self.responseTimeout = timeouts.response.map(TimeAmount.nanoseconds)
        self.idleTimeout = timeouts.idle.map(TimeAmount.nanoseconds)
        precondition(edits.count == backends.count + fallbacks.count, "one set of header edits per backend")
        self.edits = edits
        self.isCatchAll = isCatchAll
        self.authorizer = authorizer
        precondition(!backends.isEmpty, "a route has at least one backend")
        self.name = name
        self.index = index
        self.backends = backends
        self.rejectsUnknownFields = rejectsUnknownFields
        self.rewriteModel = rewriteModel
        self.maxRequestBytes = maxRequestBytes
        self.isPathRoute = isPathRoute
        self.forwardClientCredentials = forwardClientCredentials
        self.allowedMethods = allowedMethods
    }

    /// The header edits toward `backend` (one of ``backends``, or of ``fallbacks`` after them).
    @inline(__always)
    public func edits(toward backend: Backend) -> HeaderEdits {
        if self.edits.count == 1 && self.backends[0] === backend { return self.edits[0] }
        for (i, candidate) in self.backends.enumerated() where candidate === backend { return self.edits[i] }
        for (i, candidate) in self.fallbacks.enumerated() where candidate === backend { return self.edits[self.backends.count + i] }
        return .none
    }

    /// The first backend in one of `regions` that may get traffic (nil: none is; no `regions`:
    /// the preferred one). For a split, the one a request takes is drawn at dispatch.
    @inline(__always)
    public func backend(in regions: Set<String>?) -> Backend? {
        guard let weights else {
            guard let regions else { return self.backends[0] }
            return self.backends.first { $0.isIn(regions) }
        }
        for (i, backend) in self.backends.enumerated() where weights[i] > 0 && backend.isIn(regions) { return backend }
        return nil
    }

    /// A weighted split's backend for one request: `roll` (uniformly random) lands in one
    /// backend's share of the total weight of those in `regions` (all, without regions).
    /// Without a split, ``backend(in:)``.
    public func backend(roll: UInt64, in regions: Set<String>?) -> Backend? {
        guard let weights else { return self.backend(in: regions) }
        var total = 0
        for (i, backend) in self.backends.enumerated() where backend.isIn(regions) { total += weights[i] }
        guard total > 0 else { return nil }
        var point = Int(roll % UInt64(total))
        for (i, backend) in self.backends.enumerated() where backend.isIn(regions) {
            if point < weights[i] { return backend }
            point -= weights[i]
        }
        return nil
    }

    /// The backends tried, in order, when `chosen` cannot take a request: for a split, its
    /// other members of weight above 0; otherwise those listed after it. Then ``fallbacks``
    /// (when `chosen` is one of them: those after it).
    public func alternatives(to chosen: Backend) -> [Backend] {
        if let position = self.fallbacks.firstIndex(where: { $0 === chosen }) {
            return Array(self.fallbacks[(position + 1)...])
        }
        let others: [Backend]
        if let weights {
            others = self.backends.indices.compactMap { weights[$0] > 0 && self.backends[$0] !== chosen ? self.backends[$0] : nil }
        } else {
            others = Array(self.backends.drop { $0 !== chosen }.dropFirst())
        }
        return others + self.fallbacks
    }
}
