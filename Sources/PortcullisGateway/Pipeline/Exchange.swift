import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// Everything the gateway knows about one request while it is in flight: the per-request half
/// of the Envoy split (stages are built once per snapshot and hold nothing per request), plus
/// the request's ``RequestLedger``.
///
/// A class rather than a value passed down the chain, because a request lives across many
/// event-loop callbacks (head, body parts, stage suspensions, upstream head, body, end) and
/// its obligations need one owner that every path reaches. It needs no channel: a test builds
/// one from a snapshot, a head and a ``ConnectionState`` and runs a stage on it.
public final class Exchange {
    public let snapshot: GatewaySnapshot
    public let head: HTTPRequestHead
    public let target: RequestTarget
    public let endpoint: EndpointKind
    public let requestID: String
    public let receivedAt: NIODeadline
    /// Wall-clock time the request arrived, for the access log.
    public let receivedAtWall: Int64
    /// Peer address, for `x-forwarded-for` and the log.
    public let clientAddress: String?
    public let isTLS: Bool

    public var route: Route? {
        didSet { self.backend = self.route?.backend }
    }
    /// The backend the request goes to: the route's preferred one, or the first in the
    /// tenant's regions (``RegionPolicyStage``).
    public var backend: Backend?
    public var request: InferenceRequest?
    /// The request body as it will be forwarded.
    public var body: ByteBuffer?
    /// The largest body accepted (the route's limit once known, else the listener's).
    public var bodyLimit: Int
    public var upstreamEndpoint: UpstreamEndpoint?
    /// The position of ``upstreamEndpoint`` in its backend's endpoints.
    var upstreamEndpointIndex = 0
    /// The endpoint the first upstream attempt took (retries move on from it).
    var firstEndpointIndex = 0
    /// The exchange already moved to another backend because its first was full at connect
    /// (it moves once: a second full backend is answered 503).
    var movedOnOverload = false
    /// The caller's position in the config's tenant table (nil: unauthenticated, or a tenant
    /// the table does not list). Set by the authentication stage; metrics find series by it.
    var tenantIndex: Int?
    /// The requested model's position among the config's exposed models (nil: not an exact
    /// configured name). Set by the routing stage.
    var modelIndex: Int?
    /// Set when the upstream request is written: the gateway's own share of the latency ends here.
    public var forwardedAt: NIODeadline?
    /// The status the client got (0 until a response head is written; 499 when the client
    /// left before one).
    public var status: Int = 0
    public var refusal: RefusalReason?
    /// Token counts the backend reported; also kept when the stream broke or was abandoned.
    public var usage: Usage?
    /// The top-level `model` of the backend's answer (its first event, for streams), for traces.
    public var responseModel: String?
    /// The request's spans (nil: tracing is off).
    var trace: RequestTrace?
    public var responseBytes = 0
    /// Request body bytes received from the client.
    public var requestBytes = 0
    /// The status the backend answered with (nil: no response head came).
    public var upstreamStatus: Int?
    /// When the first complete event of an event-stream response was forwarded (time to first
    /// token, as a client of a stream sees it).
    public var firstEventAt: NIODeadline?
    public var upstreamAttempts = 0
    /// Why a started response did not finish.
    public var abortReason: AbortReason?
    /// The verified caller, set by the authentication stage (also when a later check refused it).
    public var identity: Identity?
    /// The caller's plan (set by the authentication stage, from the tenant table or the token).
    public var plan: PlanInfo?
    /// Why authentication refused the request (for the access log; never a credential).
    public var authFailure: AuthFailure?
    /// Headers the external authorization answer sets on the upstream request (lowercased
    /// names, allow-listed), replacing the client's of the same name.
    var authorizationHeaders: [(String, String)] = []
    /// Headers the answer appends beside the client's (gRPC `append: true`), and client
    /// headers it removes (`headers_to_remove`), both allow-listed.
    var authorizationAppended: [(String, String)] = []
    var authorizationRemoved: [String] = []
    /// The external check failed and the route fails open: the upstream is told.
    var authorizationSkipped = false
    /// The limits the request met, for the `x-ratelimit-*` response headers (nil: none applied).
    var rateLimitHeaders: RateLimitHeaders?
    /// The gateway asked the backend for the stream's usage on the client's behalf: the usage
    /// chunk is taken out of what the client receives.
    var hidesUsageChunk = false
    /// The limit that refused the request, and the first shadow limit that would have (for the
    /// access log: `limit`, `shadow_limit`).
    var limitRefused: LimitRule?
    var shadowLimitRefused: LimitRule?
    /// The tokens the limits charged when the exchange settled, and whether that was the whole
    /// reservation because a forwarded request's backend reported no usage.
    var chargedTokens: Int?
    /// What the budgets charged, in µUSD (the access log's `charged_usd`).
    var chargedMicros: Int?
    /// A token quota or budget holds the exchange: the response's generated text is counted
    /// (``GeneratedTextCounter``), for a backend that reports no usage.
    var countsGeneratedText = false
    /// The prompt estimate its reservation used, and the generated tokens counted.
    var estimatedPromptTokens = 0
    var generatedTokens: Int?
    var usageMissing = false
    /// The limits' ticket when one of its quotas is a hard ceiling (the forwarder checks it as
    /// a stream goes on).
    var ceilingTicket: LimitTicket?
    /// Where an allowed check's limit ticket is held until reported or expired (nil: proxied).
    var checkLeases: CheckLeases?
    /// A check whose limits registered a ``CheckLease``: allowing it needs room in ``checkLeases``.
    var needsLease = false
    /// The JWKS was already refetched once for this request (an unknown `kid` is not retried twice).
    var jwksRefetched = false

    /// The end-of-request obligations.
    public private(set) var ledger = RequestLedger()

    let connection: ConnectionState
    let loop: LoopContext
    var eventLoop: any EventLoop { self.loop.eventLoop }
    var listenerName: String { self.connection.listenerName }

    init(
        snapshot: GatewaySnapshot, head: HTTPRequestHead, target: RequestTarget, endpoint: EndpointKind,
        requestID: String, receivedAt: NIODeadline, connection: ConnectionState, loop: LoopContext, route: Route?
    ) {
        self.connection = connection
        self.loop = loop
        self.snapshot = snapshot
        self.head = head
        self.target = target
        self.endpoint = endpoint
        self.requestID = requestID
        self.receivedAt = receivedAt
        self.receivedAtWall = Self.wallClockMillis()
        self.clientAddress = connection.clientAddress
        self.isTLS = connection.isTLS
        self.route = route
        self.backend = route?.backend
        self.bodyLimit = route?.maxRequestBytes ?? snapshot.config.http.maxRequestBytes
    }

    deinit {
        assert(!self.ledger.isOpen, "an exchange was dropped with \(self.ledger.count) open obligation(s)")
    }

    /// Registers an end-of-request obligation.
    public func register(_ obligation: any LedgerObligation) {
        self.ledger.register(obligation)
    }

    /// Registers the obligations every exchange carries: the access log first, so it runs
    /// last and sees what the others recorded, then the metrics, the test probe and the span.
    func registerStandardObligations(traced: Bool) {
        self.register(self.loop.accessLog)
        self.register(self.loop.metrics)
        if let probe = self.loop.ledgerProbe { self.register(probe) }
        if traced, let tracer = self.snapshot.tracer {
            let trace = RequestTrace(tracer: tracer.tracer, exchange: self)
            self.trace = trace
            self.register(trace)
        }
        self.loop.metrics.started()
    }

    /// Proxied, or an ext_authz check.
    public var mode: ExchangeMode { self.connection.mode }

    /// How the exchange ended, once settled.
    public var outcome: Outcome? { self.ledger.outcome }

    /// Closes the ledger: every obligation runs once, last registered first.
    func settle(_ outcome: Outcome) {
        if self.status == 0 { self.status = 499 }
        guard let obligations = self.ledger.close(outcome) else { return }
        obligations.runReversed { $0.settle(self, outcome: outcome) }
    }

    /// Milliseconds the gateway spent before calling the backend.
    var overheadMillis: Double {
        guard let forwardedAt else { return 0 }
        return Double((forwardedAt - self.receivedAt).nanoseconds) / 1_000_000
    }

    public static func wallClockMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
