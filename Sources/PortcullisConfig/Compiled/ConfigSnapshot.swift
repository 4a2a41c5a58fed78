import NIOCore
import PortcullisCore

/// The compiled, immutable runtime form of a config. Built once by ``ConfigCompiler``; the
/// request path only reads it. A request pins the snapshot it started with; a reload swaps
/// the reference and in-flight requests keep theirs.
public final class ConfigSnapshot: Sendable {
    public let source: ConfigFile
    public let http: HTTPSpec
    public let listeners: [ListenerSpec]
    public let admin: AdminSpec?
    public let backends: [Backend]
    /// Every route, in config order (``Route/index``).
    public let routes: [Route]
    public let router: Router
    /// Client-facing model names the routes expose (exact names, in config order).
    public let exposedModels: [(name: String, ownedBy: String)]
    /// The `GET /v1/models` response body, rendered once.
    public let modelListBody: ByteBuffer
    public let accessLog: AccessLogSpec
    public let metrics: MetricsSpec
    public let mock: MockSpec?
    public let authentication: AuthenticationSettings
    public let tenants: TenantDirectory
    /// Authentication policy per listener name.
    public let listenerPolicies: [String: AuthenticationPolicy]
    /// The top-level `limits:` rules (a plan's are on its ``PlanInfo``).
    public let limitRules: [LimitRule]
    /// `prices:`, for cost budgets.
    public let prices: ModelPrices

    init(
        source: ConfigFile, backends: [Backend], routes: [Route], router: Router, exposedModels: [(String, String)], created: Int,
        authentication: AuthenticationSettings, tenants: TenantDirectory, listenerPolicies: [String: AuthenticationPolicy],
        limitRules: [LimitRule] = []
    ) {
        self.limitRules = limitRules
        self.prices = ModelPrices(source.prices)
        self.authentication = authentication
        self.tenants = tenants
        self.listenerPolicies = listenerPolicies
        self.source = source
        self.http = source.http
        self.listeners = source.listeners
        self.admin = source.admin
        self.backends = backends
        self.routes = routes
        self.router = router
        self.exposedModels = exposedModels.map { (name: $0.0, ownedBy: $0.1) }
        self.accessLog = source.accessLog
        self.mock = source.mock
        self.metrics = source.metrics
        self.modelListBody = Self.modelList(exposedModels, created: created)
        // Per plan that limits its models: only those (rendered once, looked up by plan name
        // only for `GET /v1/models`).
        var perPlan: [ObjectIdentifier: ByteBuffer] = [:]
        for plan in tenants.policies where plan.filtersModels {
            perPlan[ObjectIdentifier(plan)] = Self.modelList(
                exposedModels.filter { plan.lists(model: $0.0, router: router) }, created: created)
        }
        self.planModelListBodies = perPlan
        self.created = created
    }

    /// By policy object (a plan, or a tenant's plan with its overrides).
    private let planModelListBodies: [ObjectIdentifier: ByteBuffer]

    private static func modelList(_ models: [(String, String)], created: Int) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeStaticString("{\"object\":\"list\",\"data\":[")
        for (i, model) in models.enumerated() {
            if i > 0 { body.writeStaticString(",") }
            Self.writeModel(name: model.0, ownedBy: model.1, created: created, into: &body)
        }
        body.writeStaticString("]}")
        return body
    }

    /// The `GET /v1/models` body for a caller on `plan`: the models its plan allows.
    public func modelListBody(for plan: PlanInfo?) -> ByteBuffer {
        guard let plan, plan.filtersModels else { return self.modelListBody }
        return self.planModelListBodies[ObjectIdentifier(plan)] ?? self.modelListBody
    }

    private let created: Int

    /// The `GET /v1/models/{id}` body for an exposed model the caller's plan allows, or nil.
    public func modelBody(_ name: String, plan: PlanInfo? = nil) -> ByteBuffer? {
        guard let model = self.exposedModels.first(where: { ExactName.same($0.name, name) }) else { return nil }
        if let plan, !plan.lists(model: name, router: self.router) { return nil }
        var body = ByteBuffer()
        Self.writeModel(name: model.name, ownedBy: model.ownedBy, created: self.created, into: &body)
        return body
    }

    private static func writeModel(name: String, ownedBy: String, created: Int, into body: inout ByteBuffer) {
        body.writeStaticString("{\"id\":")
        JSONString.writeQuoted(name, into: &body)
        body.writeString(",\"object\":\"model\",\"created\":\(created),\"owned_by\":")
        JSONString.writeQuoted(ownedBy, into: &body)
        body.writeStaticString("}")
    }
}
