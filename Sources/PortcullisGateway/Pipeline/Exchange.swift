import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// Which fixed endpoint a request addressed.
public enum EndpointKind: String, Sendable {
    case chatCompletions = "chat.completions"
    case completions
    case embeddings
    case models
    case model
    case pathRoute = "path"

    /// OpenAI endpoints carry the model in a JSON body.
    var readsModelFromBody: Bool {
        switch self {
        case .chatCompletions, .completions, .embeddings: true
        case .models, .model, .pathRoute: false
        }
    }
}

/// Everything the gateway knows about one request while it is in flight: the per-request half
/// of the Envoy split (stages are built once per snapshot and hold nothing per request).
///
/// A class rather than a value passed down the chain, because a request lives across many
/// event-loop callbacks (head, body parts, upstream head, upstream body, end) and the
/// end-of-request work needs one place that every path reaches.
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

    public var route: Route?
    public var request: InferenceRequest?
    /// The request body as it will be forwarded.
    public var body: ByteBuffer?
    public var upstreamEndpoint: UpstreamEndpoint?
    /// Set when the upstream request is written: the gateway's own share of the latency ends here.
    public var forwardedAt: NIODeadline?
    public var status: Int = 0
    public var refusal: RefusalReason?
    public var usage: Usage?
    public var responseBytes = 0
    public var upstreamAttempts = 0
    /// Why the exchange ended without a normal response end (client went away, upstream broke).
    public var abortReason: String?
    /// The verified caller, set by the authentication stage.
    public var identity: Identity?
    /// Why authentication refused the request (for the access log; never a credential).
    public var authFailure: String?
    /// The JWKS was already refetched once for this request (an unknown `kid` is not retried twice).
    var jwksRefetched = false

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
