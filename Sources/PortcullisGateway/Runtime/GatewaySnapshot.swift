import AsyncHTTPClient
import PortcullisConfig

/// A compiled config plus the stages built from it: everything a request pins when it starts.
public final class GatewaySnapshot: Sendable {
    public let config: ConfigSnapshot
    public let pipeline: Pipeline
    /// The runtime slot of each backend (by ``Backend/index``): where its round-robin cursor
    /// lives. Slots are assigned by name and never reused, so a reload keeps every cursor.
    let backendSlots: [Int]
    /// Each backend's runtime state (by ``Backend/index``): breaker counts, ejections, health.
    let upstreams: [BackendRuntime]
    /// Pool keys of every configured endpoint (pooled connections to others are closed).
    let poolKeys: Set<String>
    /// Where this snapshot's tenants, models, routes and endpoints are counted.
    let metrics: MetricsLayout
    /// The process's tracer when `tracing:` is configured (the same object in every snapshot).
    let tracer: GatewayTracer?

    init(
        config: ConfigSnapshot, pipeline: Pipeline, backendSlots: [Int], series: MetricSeries, tracer: GatewayTracer? = nil,
        upstreams: UpstreamStates = UpstreamStates()
    ) {
        self.config = config
        self.upstreams = upstreams.resolve(config)
        self.tracer = tracer
        self.metrics = MetricsLayout(config, series: series)
        self.pipeline = pipeline
        self.backendSlots = backendSlots
        self.poolKeys = Set(config.backends.flatMap { $0.endpoints.map(\.poolKey) })
    }

    @inline(__always)
    func slot(of backend: Backend) -> Int {
        self.backendSlots[backend.index]
    }

    @inline(__always)
    func runtime(of backend: Backend) -> BackendRuntime {
        self.upstreams[backend.index]
    }

    /// Builds the standard pipeline for `config`: authenticate (when any method is configured),
    /// check the plan, the tenant's regions and the route's methods (path routes), inspect the
    /// body, check the plan's models, route by model, pick a backend in the tenant's regions,
    /// check the route's methods (model routes), check features and fields, hold the plan's
    /// token caps, hold the limits (head phase for path routes). Stages with nothing configured to check are left out.
    static func build(
        _ config: ConfigSnapshot, providers: [String: JWTProvider] = [:], slots: BackendSlots = BackendSlots(),
        series: MetricSeries = MetricSeries(), tracer: GatewayTracer? = nil, authorizationClient: HTTPClient? = nil,
        grpcAuthorization: (any GRPCCheckTransport)? = nil,
        limits: MemoryLimitStore = MemoryLimitStore(), sharedLimits: SharedLimitStore? = nil,
        upstreams: UpstreamStates = UpstreamStates(),
        wallClock: @escaping @Sendable () -> Double = { Double(Exchange.wallClockMillis()) / 1000 }
    ) -> GatewaySnapshot {
        var stages: [any Stage] = []
        let routeMethods = config.source.routes.contains { $0.authentication.methods != nil }
        if !config.authentication.configured.isEmpty || config.listenerPolicies.values.contains(where: \.required) {
            stages.append(AuthenticationStage(config: config, providers: providers, wallClock: wallClock))
        }
        let policies = config.tenants.policies
        let planPolicy = policies.contains(where: \.restricts)
        let tokenCaps = policies.contains(where: \.hasTokenCaps)
        let regions = policies.contains { $0.regions != nil }
        let fields = policies.contains(where: \.checksFields) || config.routes.contains(where: \.rejectsUnknownFields)
        let limited = policies.contains(where: \.hasLimits) || !config.limitRules.isEmpty
        if planPolicy { stages.append(PlanPolicyStage(phase: .head)) }
        if regions { stages.append(RegionPolicyStage(phase: .head)) }
        if routeMethods { stages.append(RouteAuthenticationStage(phase: .head)) }
        if limited { stages.append(LimitStage(phase: .head, store: limits, shared: sharedLimits, rules: config.limitRules, tenants: config.tenants)) }
        stages.append(RequestInspectionStage(keepsMembers: fields))
        // Before routing: a model the plan excludes must get the unknown-model answer, not the
        // route's body limit or authentication methods.
        if planPolicy { stages.append(PlanPolicyStage(phase: .body)) }
        stages.append(ModelRoutingStage())
        if regions { stages.append(RegionPolicyStage(phase: .body)) }
        if routeMethods { stages.append(RouteAuthenticationStage(phase: .body)) }
        if fields { stages.append(FieldPolicyStage()) }
        if tokenCaps { stages.append(TokenCapStage()) }
        // After every check that needs no counter: a request refused for its shape or policy
        // spends nothing.
        if limited { stages.append(LimitStage(phase: .body, store: limits, shared: sharedLimits, rules: config.limitRules, tenants: config.tenants)) }
        // Last: a request the gateway refuses itself never costs an external call.
        if config.routes.contains(where: { $0.authorizer != nil }) {
            stages.append(ExternalAuthorizationStage(client: authorizationClient, grpc: grpcAuthorization))
        }
        return GatewaySnapshot(
            config: config, pipeline: Pipeline(stages), backendSlots: config.backends.map { slots.slot(for: $0.name) },
            series: series, tracer: tracer, upstreams: upstreams)
    }
}
