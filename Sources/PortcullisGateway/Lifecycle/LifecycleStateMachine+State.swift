import NIOCore
import PortcullisConfig
import PortcullisCore

/// The machine's states and the values they carry.
extension LifecycleStateMachine {
    enum Mode: Sendable { case http1, http2Stream }

    /// The deadlines of the client side, pinned from the exchange's snapshot.
    struct Timeouts: Sendable, Equatable {
        var header: TimeAmount
        var body: TimeAmount
        var idle: TimeAmount
        /// Quiet SSE streams get a comment after this long; nil: off.
        var sseKeepAlive: TimeAmount?
        /// How long a client may stop taking response bytes before the exchange is cut.
        var clientWrite: TimeAmount
    }

    enum State {
        /// HTTP/1: between requests, waiting for a head. HTTP/2: before the stream's head.
        case idle(Idle)
        case active(Active)
        case closed
    }

    struct Idle {
        var since: NIODeadline
        /// When bytes of the next head started arriving.
        var headStartedAt: NIODeadline?
        /// The connection has served no request yet (the header timeout counts from accept).
        var fresh: Bool
    }

    struct Active {
        let id: UInt32
        let timeouts: Timeouts
        let receivedAt: NIODeadline
        var requestComplete = false
        var step: Step
        /// Close the connection once this exchange ends (no keep-alive, an error, draining).
        var closeAfter: Bool
        var expectContinue: Bool
        let framing: RequestFraming
        /// Body bytes received so far (to judge whether an unread rest can be dropped).
        var bodyBytes = 0
        /// Whether a response head went to the client (after it, a refusal can only cut).
        var responseStarted = false
        var suspensions: UInt32 = 0
        var attempt = 0
        var endpointCount = 1
        var freshRetryUsed = false
        /// How failed attempts are retried (set when forwarding starts).
        var retries = RetryPolicy.none
        /// The response head must arrive by then, over every attempt and backoff (`totalTimeout`).
        var upstreamDeadline: NIODeadline?
        /// The client side closed while the last write was pending: its promise decides.
        var clientGone = false
    }

    enum Step {
        /// Head stages are being evaluated (synchronously).
        case headStages
        /// Head stages passed; the body is still arriving.
        case awaitingBody
        /// Body stages are being evaluated (synchronously).
        case bodyStages
        /// A stage waits for something outside the loop.
        case suspended(Suspended)
        /// Connecting to an upstream endpoint (a fresh connection; pooled ones skip this).
        case connecting(deadline: NIODeadline)
        /// A failed attempt waits out its backoff before the next one (`token`) starts.
        case backingOff(until: NIODeadline, token: AttemptToken)
        /// The request is sent; the response head is awaited.
        case awaitingResponse(deadline: NIODeadline, idle: TimeAmount)
        case streaming(Streaming)
        /// The last part is written with a promise; the ledger settles when it completes.
        case finishing(outcome: Outcome, deadline: NIODeadline)
        /// The ledger has settled; the rest of the request body is read and dropped.
        case settled
    }

    struct Suspended {
        let pass: StagePass
        let resumeAt: Int
        let token: SuspensionToken
        let deadline: NIODeadline
    }

    struct Streaming {
        var lastRead: NIODeadline
        var lastWrite: NIODeadline
        let idle: TimeAmount
        let isEventStream: Bool
        /// Set while the client is not writable (upstream reads are paused).
        var pausedSince: NIODeadline?
    }

    /// Identifies one suspension of one exchange, so a late completion is recognised as stale.
    struct SuspensionToken: Hashable, Sendable {
        let exchange: UInt32
        let sequence: UInt32
    }

    /// How an exchange's failed upstream attempts are retried: the pure part of a backend's
    /// `retries:` (the budget is shared state, checked by the shell before it asks for a retry).
    struct RetryPolicy: Sendable, Equatable {
        /// Attempts in all, the first included.
        var maxAttempts: Int
        var onConnectFailure: Bool
        /// Response statuses retried.
        var statuses: [Int]

        static let none = RetryPolicy(maxAttempts: 1, onConnectFailure: false, statuses: [])

        init(maxAttempts: Int, onConnectFailure: Bool, statuses: [Int]) {
            self.maxAttempts = max(1, maxAttempts)
            self.onConnectFailure = onConnectFailure
            self.statuses = statuses
        }

        init(_ spec: RetrySpec) {
            self.init(maxAttempts: 1 + spec.attempts, onConnectFailure: spec.onConnectFailure, statuses: spec.statuses)
        }
    }

    /// What failed an attempt, for a retry.
    enum RetryTrigger: Equatable, Sendable {
        case connectFailure
        case status(Int)

        var reason: RetryReason {
            switch self {
            case .connectFailure: .connectFailure
            case .status: .status
            }
        }
    }

    /// Identifies one upstream attempt of one exchange.
    struct AttemptToken: Hashable, Sendable {
        let exchange: UInt32
        let attempt: Int
    }

    /// How a request's body arrives, from its head.
    struct RequestFraming: Sendable, Equatable {
        var keepAlive: Bool
        var expectContinue: Bool
        var contentLength: Int?
        var chunked: Bool
        /// The method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS): sending it twice is harmless.
        var idempotent = false

        static let none = RequestFraming(keepAlive: false, expectContinue: false, contentLength: nil, chunked: false)
    }

    /// Largest rest of an early-answered request's body that is read and dropped to keep the
    /// connection; more than this (or an unknown length, or a client waiting on `Expect`) closes it.
    static let discardLimit = 64 * 1024
}
