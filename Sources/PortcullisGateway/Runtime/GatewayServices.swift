import NIOCore
import PortcullisConfig
import PortcullisCore

/// Long-lived objects shared by every loop (all `Sendable`).
public struct GatewayServices: Sendable {
    public let requestIDs: RequestIDGenerator
    public let upstreamTLS: UpstreamTLS
    /// Registered with every exchange's ledger when set: a test hook that counts settlements.
    public let ledgerProbe: (any LedgerObligation & Sendable)?
    /// The in-memory limit counters, kept across reloads.
    let limits = MemoryLimitStore()
    /// The Redis limit store the config names (`limitStore.redis`), reused across reloads.
    let sharedLimits = SharedLimitStores()
    /// Backends' breakers, retry budgets, ejections and health, kept across reloads.
    public let upstreams = UpstreamStates()
    /// The gRPC parts (PortcullisAuthz), given by the executable so the gateway's own modules
    /// link no gRPC: the ext_authz client transport, and the `authz:` Check server.
    public let grpcAuthorization: (any GRPCCheckTransport)?
    public let authzServer: (any AuthzServerFactory)?

    public init(
        requestIDs: RequestIDGenerator = RequestIDGenerator(), upstreamTLS: UpstreamTLS = UpstreamTLS(),
        ledgerProbe: (any LedgerObligation & Sendable)? = nil, grpcAuthorization: (any GRPCCheckTransport)? = nil,
        authzServer: (any AuthzServerFactory)? = nil
    ) {
        self.requestIDs = requestIDs
        self.upstreamTLS = upstreamTLS
        self.ledgerProbe = ledgerProbe
        self.grpcAuthorization = grpcAuthorization
        self.authzServer = authzServer
    }
}
