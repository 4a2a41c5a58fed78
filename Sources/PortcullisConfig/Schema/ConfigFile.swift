/// Where a spec came from in the YAML, for diagnostics raised while compiling.
public struct SourceLocation: Sendable, Equatable {
    public var path: String
    public var line: Int?

    public init(path: String, line: Int?) {
        self.path = path
        self.line = line
    }
}

/// The config as written: plain data read from YAML, not yet cross-checked.
/// ``ConfigCompiler`` turns it into a ``ConfigSnapshot``.
public struct ConfigFile: Sendable {
    public var listeners: [ListenerSpec] = []
    public var admin: AdminSpec?
    public var http = HTTPSpec()
    public var backends: [BackendSpec] = []
    public var routes: [RouteSpec] = []
    public var mock: MockSpec?
    public var accessLog = AccessLogSpec()
    public var metrics = MetricsSpec()
    /// OpenTelemetry traces (nil: off, the default).
    public var tracing: TracingSpec?
    public var authentication = AuthenticationSpec()
    public var tenants: [TenantSpec] = []
    public var plans: [PlanSpec] = []
    /// Top-level limits, beside the plans' (`limits:`).
    public var limits: [LimitRuleSpec] = []
    /// What models cost, for cost budgets (`prices:`).
    public var prices: [PriceSpec] = []
    /// Where limit counters live (default: in memory).
    public var limitStore = LimitStoreSpec()
    public var reload = ReloadSpec()
    /// The gateway's own region: the region of every backend that names none.
    public var region: String?
    /// External authorization services, by name (routes name the one they call).
    public var externalAuthorization: [ExternalAuthorizationSpec] = []
    /// The ext_authz gRPC listener (`authz:`; nil: none).
    public var authz: AuthzServerSpec?

    public init() {}
}

/// How `serve` notices config changes besides SIGHUP and `POST /reload`.
public struct ReloadSpec: Sendable, Equatable {
    /// Reload when the config file changes (checked every `interval`).
    public var watch = true
    public var intervalNanos: Int64 = 1_000_000_000

    public init() {}
}

public struct ListenerSpec: Sendable {
    public var name: String
    public var host: String
    public var port: Int
    public var tls: TLSSpec?
    public var http2 = HTTP2Spec()
    public var authentication = AuthenticationPolicySpec()
    public var location: SourceLocation
}

public struct AdminSpec: Sendable, Equatable {
    public var host: String
    public var port: Int
}

/// Limits and timeouts of the client-facing HTTP side.
public struct HTTPSpec: Sendable, Equatable {
    public var maxRequestBytes = 1024 * 1024
    public var maxHeaderBytes = 32 * 1024
    public var maxHeaderCount = 100
    public var headerTimeoutNanos: Int64 = 10_000_000_000
    public var bodyTimeoutNanos: Int64 = 30_000_000_000
    public var idleTimeoutNanos: Int64 = 60_000_000_000
    /// Interval of `: keep-alive` comments on quiet SSE streams; 0 = off.
    public var sseKeepAliveNanos: Int64 = 15_000_000_000
    /// How long a graceful stop waits for requests and streams in flight.
    public var drainTimeoutNanos: Int64 = 30_000_000_000

    public init() {}
}

/// Where and how traces are exported (OTLP over HTTP).
public struct TracingSpec: Sendable, Equatable {
    public enum WireFormat: String, Sendable, Equatable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// The collector's OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces`.
    public var endpoint: String
    public var format = WireFormat.protobuf
    public var serviceName = "portcullis"
    /// Share of new traces recorded (a client's sampled `traceparent` is always followed).
    public var sampleRatio = 1.0
    /// How often the batch of finished spans is sent.
    public var exportIntervalNanos: Int64 = 5_000_000_000
    public var location: SourceLocation

    public init(endpoint: String, location: SourceLocation) {
        self.endpoint = endpoint
        self.location = location
    }

    /// The settings, not where they were written: a reload that only moves the block is no change.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.format == rhs.format && lhs.serviceName == rhs.serviceName
            && lhs.sampleRatio == rhs.sampleRatio && lhs.exportIntervalNanos == rhs.exportIntervalNanos
    }
}

/// What `/metrics` labels series with.
public struct MetricsSpec: Sendable, Equatable {
    /// Label per-tenant series with the tenant (off: one series for all tenants, for platforms
    /// with more tenants than a Prometheus should hold series for).
    public var tenantLabel = true

    /// Label values the gateway's own buckets use: a model or tenant the config does not name,
    /// none at all, and every tenant (label off). No tenant, route or model may be named so.
    public static let otherValue = "_other"
    public static let noneValue = "_none"
    public static let allValue = "_all"
    public static let reservedValues: Set<String> = [otherValue, noneValue, allValue]

    public init() {}
}

public struct AccessLogSpec: Sendable, Equatable {
    /// `stdout`, `stderr`, a file path (resolved against the config file's folder), or `off`.
    public var destination = "stdout"
    public var location: SourceLocation?

    /// Destinations that are not files.
    public static let streams: Set<String> = ["stdout", "stderr", "off"]

    public var isFile: Bool { !Self.streams.contains(self.destination) }

    public init() {}
}

public struct BackendSpec: Sendable {
    public var name: String
    public var endpoints: [String]
    /// Defaults from the reference platform: connect 10 s, response head 60 s, stream idle 300 s.
    public var connectTimeoutNanos: Int64 = 10_000_000_000
    /// Time allowed from sending the request to receiving the response head.
    public var responseTimeoutNanos: Int64 = 60_000_000_000
    /// Time allowed between two reads of the response body.
    public var idleTimeoutNanos: Int64 = 300_000_000_000
    /// Time allowed from dispatch to the response head over every attempt and backoff
    /// together (nil: none beyond each attempt's own timeouts).
    public var totalTimeoutNanos: Int64?
    /// Idle keep-alive connections kept per endpoint and event loop.
    public var maxIdleConnections = 64
    /// A pooled connection unused this long is closed rather than reused: shorter than the
    /// backend's own keep-alive timeout (uvicorn, behind vLLM, closes after 5 s), so the gateway
    /// rarely sends a request on a connection the backend is closing.
    public var keepAliveTimeoutNanos: Int64 = 4_000_000_000
    public var tls = BackendTLSSpec()
    public var signContext: SignContextSpec?
    /// Where the backend runs (default: the gateway's own `region`). Tenants with `regions`
    /// are only ever routed to backends in one of them.
    public var region: String?
    /// The backend's own credential, injected into every request (nil: none).
    public var credential: BackendCredentialSpec?
    /// Static edits of the request headers sent to this backend.
    public var headers = HeaderEditsSpec()
    public var circuitBreaker = CircuitBreakerSpec()
    public var retries = RetrySpec()
    public var outlierDetection = OutlierDetectionSpec()
    /// Active health checks (nil: none; endpoints are then judged by outlier detection alone).
    public var healthCheck: HealthCheckSpec?
    /// How requests spread over ``endpoints``.
    public var balance = BalanceStrategy.roundRobin
    /// Speak HTTP/2 to the endpoints: h2 negotiated by ALPN for `https://` ones (a server that
    /// does not pick it fails the connect), h2c with prior knowledge for `http://` ones.
    public var http2 = false
    public var location: SourceLocation
}

public struct RouteSpec: Sendable {
    public var name: String
    /// Model names or `*` globs, matched against the body's `model`.
    public var models: [String]
    /// Path prefix for protocols that carry the model in the path (KServe, Open Inference Protocol).
    public var pathPrefix: String?
    /// The backends that may serve the route, in order of preference (`backend: NAME`, or
    /// `backends: [A, B]`): a tenant goes to the first in one of its regions.
    public var backends: [String]
    /// A weighted split (`backends: [{ backend: A, weight: 95 }, …]`), one weight per backend
    /// (nil: ordered preference, as above).
    public var weights: [Int]?
    public var rewriteModel: String?
    public var maxRequestBytes: Int?
    /// Forward the client's own `Authorization` / `x-api-key` upstream (default: never).
    public var forwardClientCredentials = false
    public var authentication = AuthenticationPolicySpec()
    /// Top-level request fields the endpoint's spec does not define (``RequestFields``):
    /// passed through (the default: the API grows, and servers add their own) or refused.
    public var unknownFields: UnknownFields = .pass
    /// The external authorization service the route calls (`externalAuthorization.NAME`).
    public var externalAuthorization: String?
    /// Static edits of the request headers sent upstream, after the backend's own.
    public var headers = HeaderEditsSpec()
    /// Backends tried in order when the chosen one has no healthy endpoint or its breaker is
    /// open (`fallbacks: [NAME, …]`).
    public var fallbacks: [String] = []
    /// Per-route overrides of the backend's timeouts (nil: the backend's).
    public var connectTimeoutNanos: Int64?
    public var responseTimeoutNanos: Int64?
    public var idleTimeoutNanos: Int64?
    public var totalTimeoutNanos: Int64?
    /// The catch-all route (`match: { catchAll: true }`): it serves every request no other
    /// route matches, model-routed or not (at most one per config).
    public var catchAll = false
    public var location: SourceLocation

    public enum UnknownFields: String, Sendable, CaseIterable {
        case pass, reject
    }
}

/// The in-process mock backend (the quickstart's); endpoints name it `builtin:mock`.
public struct MockSpec: Sendable, Equatable {
    public var models: [String] = ["demo-chat", "demo-embed"]
    public var chunks = 8
    public var chunkDelayNanos: Int64 = 20_000_000

    public init() {}
}
