import NIOConcurrencyHelpers
import PortcullisConfig

/// Stable small integers for every label value a per-request metric can carry, for the life
/// of the process: tenants, request slots (a route and a model label) and upstream endpoints.
/// Per-loop counters (``LoopMetrics``) live in arrays indexed by these, so the request path
/// finds its counters without hashing, and a reload keeps every count: a name keeps its
/// number, a new name gets the next one. Touched only when a snapshot is built
/// (``MetricsLayout``) and at scrape, never per request.
///
/// The set of values is bounded by the configs the process has loaded, not by what clients
/// send: a model the config does not name is counted as ``otherValue``, a tenant the config
/// does not list as ``otherValue``, a request without a caller or a route as ``noneValue``.
public final class MetricSeries: Sendable {
    /// A model or tenant the config does not name (the config compiler refuses these names).
    public static let otherValue = MetricsSpec.otherValue
    /// No caller, no route or no model (a request refused before they were known).
    public static let noneValue = MetricsSpec.noneValue
    /// Every tenant, when `metrics.tenantLabel` is off.
    public static let allValue = MetricsSpec.allValue

    struct Slot: Hashable, Sendable {
        let route: String
        let model: String
        /// Proxied requests and ext_authz checks are counted apart (the `mode` label).
        var mode: ExchangeMode = .proxy
    }

    struct Endpoint: Hashable, Sendable {
        let backend: String
        let endpoint: String
    }

    private struct Tables {
        var tenants = Interned<String>()
        var slots = Interned<Slot>()
        var endpoints = Interned<Endpoint>()
        var limits = Interned<String>()
    }

    private let tables = NIOLockedValueBox(Tables())

    public init() {}

    func tenant(_ name: String) -> Int { self.tables.withLockedValue { $0.tenants.id(name) } }
    func slot(route: String, model: String, mode: ExchangeMode = .proxy) -> Int {
        self.tables.withLockedValue { $0.slots.id(Slot(route: route, model: model, mode: mode)) }
    }
    func endpoint(backend: String, endpoint: String) -> Int {
        self.tables.withLockedValue { $0.endpoints.id(Endpoint(backend: backend, endpoint: endpoint)) }
    }

    /// A limit's `limit` label (``LimitRule/label``).
    func limit(_ label: String) -> Int { self.tables.withLockedValue { $0.limits.id(label) } }

    /// The values by id, for rendering a scrape.
    func names() -> Names {
        self.tables.withLockedValue {
            Names(tenants: $0.tenants.values, slots: $0.slots.values, endpoints: $0.endpoints.values, limits: $0.limits.values)
        }
    }

    struct Names: Sendable {
        let tenants: [String]
        let slots: [Slot]
        let endpoints: [Endpoint]
        let limits: [String]
    }
}
