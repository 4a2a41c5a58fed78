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

    init(
        source: ConfigFile, backends: [Backend], routes: [Route], router: Router, exposedModels: [(String, String)], created: Int,
        authentication: AuthenticationSettings, tenants: TenantDirectory, listenerPolicies: [String: AuthenticationPolicy]
    ) {
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
        var body = ByteBuffer()
        body.writeStaticString("{\"object\":\"list\",\"data\":[")
        for (i, model) in exposedModels.enumerated() {
            if i > 0 { body.writeStaticString(",") }
            Self.writeModel(name: model.0, ownedBy: model.1, created: created, into: &body)
        }
        body.writeStaticString("]}")
        self.modelListBody = body
        self.created = created
    }

    private let created: Int

    /// The `GET /v1/models/{id}` body for an exposed model, or nil.
    public func modelBody(_ name: String) -> ByteBuffer? {
        guard let model = self.exposedModels.first(where: { $0.name == name }) else { return nil }
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
