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
    public let maxIdleConnections: Int
    /// Pooled connections unused longer than this are closed, not reused.
    public let keepAliveTimeout: TimeAmount
    /// PEM CA bundle for https endpoints (nil: system roots).
    public let caFile: String?
    public let signContext: SignContextSpec?

    init(spec: BackendSpec, index: Int, endpoints: [UpstreamEndpoint]) {
        self.name = spec.name
        self.index = index
        self.endpoints = endpoints
        self.connectTimeout = .nanoseconds(spec.connectTimeoutNanos)
        self.responseTimeout = .nanoseconds(spec.responseTimeoutNanos)
        self.idleTimeout = .nanoseconds(spec.idleTimeoutNanos)
        self.maxIdleConnections = spec.maxIdleConnections
        self.keepAliveTimeout = .nanoseconds(spec.keepAliveTimeoutNanos)
        self.caFile = spec.tls.ca
        self.signContext = spec.signContext
    }
}

/// A compiled route: the backend a matched request goes to and what changes on the way.
public final class Route: Sendable {
    public let name: String
    /// Position in ``ConfigSnapshot/routes``.
    public let index: Int
    public let backend: Backend
    /// Model name sent upstream instead of the client's.
    public let rewriteModel: String?
    public let maxRequestBytes: Int
    /// True for path-prefix routes (the body is forwarded as is; no model is read from it).
    public let isPathRoute: Bool
    /// Send the client's own credential headers upstream.
    public let forwardClientCredentials: Bool
    /// Authentication methods this route accepts (nil: whatever the listener accepted).
    public let allowedMethods: Set<AuthMethod>?

    init(
        name: String, index: Int, backend: Backend, rewriteModel: String?, maxRequestBytes: Int, isPathRoute: Bool,
        forwardClientCredentials: Bool, allowedMethods: Set<AuthMethod>?
    ) {
        self.name = name
        self.index = index
        self.backend = backend
        self.rewriteModel = rewriteModel
        self.maxRequestBytes = maxRequestBytes
        self.isPathRoute = isPathRoute
        self.forwardClientCredentials = forwardClientCredentials
        self.allowedMethods = allowedMethods
    }
}
