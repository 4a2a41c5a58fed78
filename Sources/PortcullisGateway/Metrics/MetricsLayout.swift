import PortcullisConfig
import PortcullisCore

/// One snapshot's map from its own indices (tenant table position, exposed model, route,
/// backend and endpoint position) to the process-wide series ids of ``MetricSeries``. Built
/// with the snapshot; a request reads two or three array elements from it when it settles.
/// A class: settling reads it through one reference instead of copying (and retaining) its
/// arrays.
public final class MetricsLayout: Sendable {
    /// By ``TenantInfo/index``.
    let tenants: [Int]
    /// An authenticated caller the tenant table does not list.
    let otherTenant: Int
    /// No authenticated caller.
    let noTenant: Int
    /// The request slots (route and model labels) of proxied requests and of ext_authz checks.
    let proxySlots: Slots
    let checkSlots: Slots
    /// By ``Backend/index``, then the endpoint's position in ``Backend/endpoints``.
    let endpoints: [[Int]]
    /// A plan's limits by ``LimitName/ordinal``, and the top-level rules by ``LimitRule/index``.
    let planLimits: [Int]
    let ruleLimits: [Int]

    init(_ config: ConfigSnapshot, series: MetricSeries) {
        let perTenant = config.metrics.tenantLabel
        let all = perTenant ? -1 : series.tenant(MetricSeries.allValue)
        var tenants = [Int](repeating: all, count: config.tenants.tenants.count)
        if perTenant {
            for tenant in config.tenants.tenants.values { tenants[tenant.index] = series.tenant(tenant.name) }
        }
        self.tenants = tenants
        self.otherTenant = perTenant ? series.tenant(MetricSeries.otherValue) : all
        self.noTenant = perTenant ? series.tenant(MetricSeries.noneValue) : all
        self.proxySlots = Slots(config, series: series, mode: .proxy)
        // Only a config that serves checks has their series (an unused mode costs no counters).
        self.checkSlots = config.source.authz == nil ? self.proxySlots : Slots(config, series: series, mode: .authz)
        self.planLimits = LimitName.allCases.map { series.limit($0.label) }
        self.ruleLimits = config.limitRules.map { series.limit($0.label) }
        self.endpoints = config.backends.map { backend in
            backend.endpoints.map { series.endpoint(backend: backend.name, endpoint: $0.description) }
        }
    }

    /// The `limit` series of a rule.
    @inline(__always)
    func limit(_ rule: LimitRule) -> Int {
        rule.index < 0 ? self.planLimits[rule.name.ordinal] : self.ruleLimits[rule.index]
    }

    /// The tenant series of an exchange.
    @inline(__always)
    func tenant(of exchange: Exchange) -> Int {
        guard exchange.identity != nil else { return self.noTenant }
        guard let index = exchange.tenantIndex else { return self.otherTenant }
        return self.tenants[index]
    }

    /// The request slot (route and model labels) of an exchange.
    @inline(__always)
    func slot(of exchange: Exchange) -> Int {
        let slots = exchange.mode == .proxy ? self.proxySlots : self.checkSlots
        if let route = exchange.route {
            if let model = exchange.modelIndex { return slots.exactModels[model] }
            return slots.routes[route.index]
        }
        return exchange.request == nil ? slots.unrouted : slots.unknownModel
    }

    /// One mode's slots.
    struct Slots: Sendable {
        /// By position in ``ConfigSnapshot/exposedModels`` (an exact model name and its route).
        let exactModels: [Int]
        /// By ``Route/index``: the route with a model the config does not name (a glob matched),
        /// or with no model at all (a path route).
        let routes: [Int]
        /// A model was named but nothing routes it.
        let unknownModel: Int
        /// Refused before a route was known.
        let unrouted: Int

        init(_ config: ConfigSnapshot, series: MetricSeries, mode: ExchangeMode) {
            self.exactModels = config.exposedModels.map { model in
                series.slot(route: config.router.route(model: model.name)?.name ?? MetricSeries.noneValue, model: model.name, mode: mode)
            }
            self.routes = config.routes.map { route in
                series.slot(route: route.name, model: route.isPathRoute ? MetricSeries.noneValue : MetricSeries.otherValue, mode: mode)
            }
            self.unknownModel = series.slot(route: MetricSeries.noneValue, model: MetricSeries.otherValue, mode: mode)
            self.unrouted = series.slot(route: MetricSeries.noneValue, model: MetricSeries.noneValue, mode: mode)
        }
    }
}
