import NIOCore
import PortcullisConfig
import PortcullisCore

/// `GET /config`: the effective config of the current snapshot (defaults filled in, relative
/// paths resolved) and the stage order, as JSON. Secrets are never in it: API keys appear by
/// name and tenant (not their hashes), JWT providers by issuer and key source (an HMAC secret
/// as `"redacted"`), a signed tenant context by key id (not its secret), URLs without user
/// information or query strings (``RedactedURL``), and no header value of any request.
enum ConfigDescription {
    static func render(_ runtime: GatewayRuntime) -> String {
        let (generation, snapshot) = runtime.store.load()
        let config = snapshot.config
        let source = config.source
        var fields: [String] = []
        fields.append(#""generation":\#(generation)"#)
        fields.append(#""stages":\#(list(snapshot.pipeline.stageNames.map(q)))"#)
        fields.append(#""listeners":\#(list(runtime.listenerSet.current.map(listener)))"#)
        fields.append(#""http":\#(http(config.http))"#)
        fields.append(#""routes":\#(list(source.routes.map(route)))"#)
        fields.append(#""backends":\#(list(source.backends.map(backend)))"#)
        fields.append(#""authentication":\#(authentication(source.authentication, config.authentication))"#)
        fields.append(#""region":\#(source.region.map(q) ?? "null")"#)
        fields.append(#""tenants":\#(list(source.tenants.map { tenant($0, config.tenants.tenants[$0.name]) }))"#)
        fields.append(#""plans":\#(list(source.plans.map(plan)))"#)
        fields.append(#""limits":\#(list(source.limits.map(limitRule)))"#)
        fields.append(#""limitStore":\#(limitStore(source.limitStore, runtime.services.sharedLimits.current))"#)
        fields.append(#""accessLog":{"destination":\#(q(source.accessLog.destination))}"#)
        fields.append(#""metrics":{"tenantLabel":\#(source.metrics.tenantLabel)}"#)
        fields.append(#""tracing":\#(source.tracing.map(tracing) ?? "null")"#)
        fields.append(#""reload":{"watch":\#(source.reload.watch),"intervalMs":\#(ms(source.reload.intervalNanos))}"#)
        let reloads = runtime.reloadCounts
        fields.append(#""reloads":{"succeeded":\#(reloads.succeeded),"failed":\#(reloads.failed)}"#)
        return "{" + fields.joined(separator: ",") + "}"
    }

    private static func q(_ text: String) -> String { JSONString.quoted(text) }
    private static func list(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
    private static func ms(_ nanos: Int64) -> Int64 { nanos / 1_000_000 }
    private static func optional(_ value: Int?) -> String { value.map(String.init) ?? "null" }


    private static func listener(_ listener: BoundListener) -> String {
        let spec = listener.spec
        let methods = spec.authentication.methods.map { list($0.map { q($0.rawValue) }) } ?? "null"
        let required = spec.authentication.required.map { "\($0)" } ?? "null"
        let tls = spec.tls.map {
            #"{"certificate":\#(q($0.certificate)),"clientAuth":\#(q($0.clientAuth.rawValue)),"http2":\#(spec.http2.enabled)}"#
        } ?? "null"
        return #"{"name":\#(q(listener.name)),"address":\#(q(listener.address)),"port":\#(listener.port),"tls":\#(tls),"authentication":{"methods":\#(methods),"required":\#(required)}}"#
    }

    private static func http(_ http: HTTPSpec) -> String {
        #"{"maxRequestBytes":\#(http.maxRequestBytes),"maxHeaderBytes":\#(http.maxHeaderBytes),"maxHeaderCount":\#(http.maxHeaderCount),"headerTimeoutMs":\#(ms(http.headerTimeoutNanos)),"bodyTimeoutMs":\#(ms(http.bodyTimeoutNanos)),"idleTimeoutMs":\#(ms(http.idleTimeoutNanos)),"sseKeepAliveMs":\#(ms(http.sseKeepAliveNanos)),"drainTimeoutMs":\#(ms(http.drainTimeoutNanos))}"#
    }

    private static func route(_ route: RouteSpec) -> String {
        let prefix = route.pathPrefix.map(q) ?? "null"
        let rewrite = route.rewriteModel.map(q) ?? "null"
        let methods = route.authentication.methods.map { list($0.map { q($0.rawValue) }) } ?? "null"
        let maxBytes = optional(route.maxRequestBytes)
        return #"{"name":\#(q(route.name)),"models":\#(list(route.models.map(q))),"pathPrefix":\#(prefix),"backends":\#(list(route.backends.map(q))),"weights":\#(route.weights.map { list($0.map(String.init)) } ?? "null"),"rewriteModel":\#(rewrite),"maxRequestBytes":\#(maxBytes),"forwardClientCredentials":\#(route.forwardClientCredentials),"authenticationMethods":\#(methods),"unknownFields":\#(q(route.unknownFields.rawValue)),"catchAll":\#(route.catchAll),"headers":\#(edits(route.headers))}"#
    }

    /// Header edits by name only: a value may be a secret an operator put there.
    private static func edits(_ edits: HeaderEditsSpec) -> String {
        #"{"set":\#(list(edits.set.map { q($0.name) })),"add":\#(list(edits.add.map { q($0.name) })),"remove":\#(list(edits.remove.map(q)))}"#
    }

    private static func backend(_ backend: BackendSpec) -> String {
        let sign = backend.signContext.map { #"{"keyID":\#(q($0.keyID)),"secret":"redacted"}"# } ?? "null"
        let ca = backend.tls.ca.map(q) ?? "null"
        // The credential by header and source only, never its value.
        let credential = backend.credential.map {
            #"{"header":\#(q($0.header)),"source":\#(q($0.source.description)),"secret":"redacted"}"#
        } ?? "null"
        return #"{"name":\#(q(backend.name)),"endpoints":\#(list(backend.endpoints.map { q(RedactedURL.of($0)) })),"connectTimeoutMs":\#(ms(backend.connectTimeoutNanos)),"responseTimeoutMs":\#(ms(backend.responseTimeoutNanos)),"idleTimeoutMs":\#(ms(backend.idleTimeoutNanos)),"totalTimeoutMs":\#(backend.totalTimeoutNanos.map { String(ms($0)) } ?? "null"),"keepAliveTimeoutMs":\#(ms(backend.keepAliveTimeoutNanos)),"maxIdleConnections":\#(backend.maxIdleConnections),"tlsCA":\#(ca),"signContext":\#(sign),"region":\#(backend.region.map(q) ?? "null"),"credential":\#(credential),"headers":\#(edits(backend.headers)),"balance":"\#(backend.balance.rawValue)","http2":\#(backend.http2)}"#
    }

    private static func authentication(_ spec: AuthenticationSpec, _ settings: AuthenticationSettings) -> String {
        let keys = settings.apiKeys.values.sorted { $0.name < $1.name }.map {
            #"{"name":\#(q($0.name)),"tenant":\#(q($0.tenant)),"disabled":\#($0.disabled)}"#
        }
        let providers = settings.jwtProviders.map { provider -> String in
            let p = provider.spec
            let source: String
            if let uri = p.jwksURI {
                source = #"{"jwksURI":\#(q(RedactedURL.of(uri)))}"#
            } else if let file = p.jwksFile {
                source = #"{"jwksFile":\#(q(file))}"#
            } else {
                source = #"{"secret":"redacted"}"#
            }
            let algorithms = provider.algorithms.map(\.rawValue).sorted().map(q)
            return #"{"name":\#(q(p.name)),"issuer":\#(q(p.issuer)),"audiences":\#(list(p.audiences.map(q))),"algorithms":\#(list(algorithms)),"keys":\#(source),"refreshIntervalMs":\#(ms(p.refreshIntervalNanos)),"refetchWaitMs":\#(ms(p.refetchWaitNanos)),"clockSkewMs":\#(ms(p.clockSkewNanos)),"requireExpiry":\#(p.requireExpiry)}"#
        }
        let certificates = settings.certificateMappings.map { mapping -> String in
            let field: String
            switch mapping.field {
            case .spiffe: field = "spiffe"
            case .dns: field = "dns"
            case .commonName: field = "commonName"
            }
            return #"{"name":\#(q(mapping.name)),"\#(field)":\#(q(mapping.pattern.pattern)),"tenant":\#(q(mapping.tenant))}"#
        }
        let order = settings.order.map { q($0.rawValue) }
        let configured = settings.configured.map(\.rawValue).sorted().map(q)
        let unknownPlan = settings.unknownTenantPlan.map(q) ?? "null"
        return #"{"order":\#(list(order)),"configured":\#(list(configured)),"required":\#(settings.required),"requireKnownTenant":\#(settings.requireKnownTenant),"unknownTenantPlan":\#(unknownPlan),"apiKeys":\#(list(keys)),"jwt":\#(list(providers)),"clientCertificates":\#(list(certificates))}"#
    }

    /// A tenant, with its effective policy when it overrides its plan.
    private static func tenant(_ tenant: TenantSpec, _ compiled: TenantInfo?) -> String {
        let status = tenant.suspendedReason == nil ? #""active""# : #""suspended","reason":\#(q(tenant.suspendedReason!))"#
        let policy = compiled?.policy.flatMap { $0.tenant == nil ? nil : plan($0.spec) } ?? "null"
        return #"{"name":\#(q(tenant.name)),"plan":\#(tenant.plan.map(q) ?? "null"),"org":\#(tenant.org.map(q) ?? "null"),"disabled":\#(tenant.disabled),"status":\#(status),"effectivePolicy":\#(policy)}"#
    }

    private static func plan(_ plan: PlanSpec) -> String {
        let l = plan.limits
        let models = plan.models.map { list($0.map(q)) } ?? "null"
        let routes = plan.routes.map { list($0.map(q)) } ?? "null"
        let features = plan.features.map { list($0.map { q($0.rawValue) }) } ?? "null"
        let forbidden = list((plan.forbiddenFields ?? []).map(q))
        let regions = plan.regions.map { list($0.map(q)) } ?? "null"
        return #"{"name":\#(q(plan.name)),"models":\#(models),"features":\#(features),"forbiddenFields":\#(forbidden),"regions":\#(regions),"limits":\#(limits(l)),"routes":\#(routes)}"#
    }

    /// A top-level limit rule.
    private static func limitRule(_ rule: LimitRuleSpec) -> String {
        func names(_ values: [String]?) -> String { values.map { list($0.map(q)) } ?? "null" }
        return #"{"name":\#(q(rule.name)),"per":\#(q(rule.per.rawValue)),"methods":\#(names(rule.methods?.map(\.rawValue))),"credentials":\#(names(rule.credentials)),"routes":\#(names(rule.routes)),"models":\#(names(rule.models)),"shadow":\#(rule.shadow),"ceiling":\#(rule.ceiling),"limits":\#(limits(rule.limits))}"#
    }

    /// Every limit key, set or null, which are shadow-only, and which are hard ceilings.
    private static func limits(_ l: LimitsSpec) -> String {
        // Budgets in dollars, as the config writes them.
        let counted = LimitName.allCases.map { name in
            let value = name.isBudget ? l[name].map { String(Double($0) / 1_000_000) } ?? "null" : optional(l[name])
            return #"\#(q(name.rawValue)):\#(value)"#
        }.joined(separator: ",")
        let shadow = list((l.shadow ?? []).map { q($0.rawValue) })
        let ceiling = list((l.ceiling ?? []).map { q($0.rawValue) })
        return #"{\#(counted),"burst":\#(optional(l.burst)),"maxTokens":\#(optional(l.maxTokens)),"defaultMaxTokens":\#(optional(l.defaultMaxTokens)),"tokenType":\#(q((l.tokenType ?? .total).rawValue)),"onStoreFailure":\#(l.onStoreFailure.map { q($0.rawValue) } ?? "null"),"shadow":\#(shadow),"ceiling":\#(ceiling)}"#
    }

    /// Where counters live; never the password (only whether one is set).
    private static func limitStore(_ spec: LimitStoreSpec, _ store: SharedLimitStore?) -> String {
        guard let redis = spec.redis else { return #"{"kind":"memory"}"# }
        let up = store.map { $0.client.isUp ? "true" : "false" } ?? "null"
        let address = redis.host + ":" + String(redis.port)
        return #"{"kind":"redis","address":\#(q(address)),"database":\#(redis.database ?? 0),"passwordSet":\#(redis.password != nil),"connections":\#(redis.connections),"timeoutMs":\#(Double(redis.timeoutNanos) / 1e6),"leaseTTLMs":\#(ms(redis.leaseTTLNanos)),"replicas":\#(redis.replicas),"onFailure":\#(q(redis.onFailure.rawValue)),"keyPrefix":\#(q(redis.keyPrefix)),"up":\#(up)}"#
    }

    private static func tracing(_ tracing: TracingSpec) -> String {
        #"{"endpoint":\#(q(RedactedURL.of(tracing.endpoint))),"protocol":\#(q(tracing.format.rawValue)),"serviceName":\#(q(tracing.serviceName)),"sampleRatio":\#(tracing.sampleRatio),"exportIntervalMs":\#(ms(tracing.exportIntervalNanos))}"#
    }
}
