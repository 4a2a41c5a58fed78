import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The IO shell of one HTTP/1.1 connection or one HTTP/2 stream.
///
/// Decisions come from ``LifecycleStateMachine``: this handler turns channel events, stage
/// results, upstream callbacks and timer ticks into the machine's events, and carries out the
/// actions it returns (write, forward, settle the ledger, close). Everything happens on the
/// connection's event loop. The request head is read by ``RequestHeadCheck``, stages run in
/// ``StageRunner``, upstream and client heads are built by ``UpstreamRequestHead`` and
/// ``ClientResponseHead``, and pipelined HTTP/1.1 requests wait in ``PipelinedRequests``.
///
/// Deliberately does not: buffer response bodies, parse response JSON beyond the usage scan,
/// or retry a request whose bytes may have reached a backend (the one exception, the
/// keep-alive race, is the machine's decision).
final class ProxyHandler: ChannelInboundHandler, UpstreamResponseDelegate, LedgerObligation {
    typealias InboundIn = HTTPServerRequestPart

    let loop: LoopContext
    let connection: ConnectionState
    var context: ChannelHandlerContext!
    var machine: LifecycleStateMachine
    var exchange: Exchange?
    var upstream: UpstreamConnection?
    /// The handler is registered as the current exchange's upstream-release obligation.
    var holdsUpstreamObligation = false
    var suspensionCancel: (@Sendable () -> Void)?
    /// The gateway's own answer waiting for ``LifecycleStateMachine/respondLocally(now:)``.
    var localBody: ByteBuffer?
    var sse: SSEScanner?
    var usageScanner: UsageScanner?
    /// Counts the generated text when a quota holds the exchange (see ``Exchange/countsGeneratedText``).
    var textCounter: GeneratedTextCounter?
    /// A JSON answer's parts, counted by ``textCounter`` only if it reports no usage.
    var heldText = HeldResponseText()
    /// Takes out the usage chunk the gateway asked for on the client's behalf (nil: none asked).
    var usageFilter: UsageChunkFilter?
    /// The backend whose breaker holds a request slot for this exchange, and the one whose
    /// retry budget holds a slot for it (both given back when the exchange settles).
    var admitted: BackendState?
    var retrying: BackendState?
    /// The endpoint the current attempt counts against (its `inFlight`), released at settle.
    var loadedEndpoint: EndpointState?
    /// Masks the backend's credential in an error answer it sends back (nil: not one).
    var scrubber: CredentialScrubber?
    /// The limits' ticket whose hard ceilings this open event stream is held to (nil: none),
    /// the ceiling reached while the client's event in progress is finished, and the tokens
    /// counted in what was delivered when the stream is cut (see `ProxyHandler+Ceiling`).
    var ceiling: LimitTicket?
    var pendingCut: LimitCharge?
    var cutDelivered: Int?
    var pendingFlush = false
    var lastRead = NIODeadline.distantPast
    var pipelined = PipelinedRequests()
    var replaying = false
    var readsPausedForStages = false
    /// Bytes of a next request arrived while the current one was being answered.
    var bytesWhileBusy = false

    // The connection's one timer (see ProxyHandler+Responses.swift).
    var timer: Scheduled<Void>?
    var timerAt = NIODeadline.distantFuture
    /// Inside a batch of client reads: the timer is re-armed once, at the batch's end, not per
    /// event (a request read whole in one batch never schedules its body deadline at all).
    var readBatch = false
    var timerDirty = false
    /// The time read once per batch of reads (client or upstream): every event of the batch
    /// uses it, instead of a clock read per event.
    var batchNow: NIODeadline?
    /// The answer is out and the output side closed; input is drained until the client stops
    /// (or `lingerLimit` passes), then the connection closes.
    var lingering = false
    static let lingerLimit = TimeAmount.seconds(2)

    init(loop: LoopContext, connection: ConnectionState) {
        self.loop = loop
        self.connection = connection
        self.machine = LifecycleStateMachine(
            mode: connection.isHTTP2 ? .http2Stream : .http1, now: loop.now(),
            timeouts: LifecycleStateMachine.Timeouts(loop.snapshot().config.http))
    }

    var isHTTP2: Bool { self.machine.mode == .http2Stream }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loop.register(self)
        if !self.isHTTP2 { self.connection.proxy = self }
        if self.loop.isDraining { self.perform(self.machine.drain()) }
        if context.channel.isActive { self.armTimer() }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armTimer()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Whatever is still open ends here: the handler (and its exchange) go away with it;
        // except an HTTP/2 exchange whose last write is still on its way to the socket, which
        // settles on that write's promise and stays registered until then, so a drain that
        // runs out still ends it.
        self.perform(self.machine.handlerRemoved())
        if self.machine.isClosed { self.loop.unregister(self) }
        self.cancelTimer()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.readBatch = true
        if self.batchNow == nil { self.batchNow = self.loop.now() }
        guard !self.lingering else { return }  // the answer is out; what the client still sends is dropped
        let part = self.unwrapInboundIn(data)
        if self.mustQueue {
            // The current request is fully read but not answered yet: this part belongs to a
            // pipelined request, handled once the current response ends.
            guard !self.isHTTP2, !self.machine.isClosed else { return }
            if self.pipelined.append(.part(part)) == .pause { self.updateAutoRead() }
            return
        }
        self.handle(part)
    }

    /// Whether what arrives now waits behind the current exchange (or behind earlier queued parts).
    private var mustQueue: Bool {
        !self.machine.acceptsRequestParts || (!self.pipelined.isEmpty && !self.replaying)
    }

    /// The current time: the batch's when inside one.
    @inline(__always)
    func now() -> NIODeadline {
        if let batchNow { return batchNow }
        return self.loop.now()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.readBatch = false
        self.batchNow = nil
        if self.timerDirty { self.armTimer() }
        context.fireChannelReadComplete()
    }

    /// Called by ``ClientRequestDecoder`` for every read of raw bytes (HTTP/1 only).
    func rawBytesArrived() {
        self.readBatch = true
        if self.batchNow == nil { self.batchNow = self.loop.now() }
        if self.machine.acceptsRequestParts {
            if case .idle = self.machine.state {
                self.machine.headBytesArrived(now: self.now())
                // The header timeout is shorter than the idle timeout the timer may be set to.
                self.armTimer()
            }
        } else {
            self.bytesWhileBusy = true
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.clientWentAway()
        self.cancelTimer()
        context.fireChannelInactive()
    }

    /// The client closed the connection, reset the stream, or the connection failed.
    private func clientWentAway() {
        self.captureUsage()
        let action = self.machine.clientClosed()
        if case .abandoned = action { self.exchange?.abortReason = self.isHTTP2 ? .streamReset : .clientClosed }
        self.perform(action)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.perform(self.machine.clientWritabilityChanged(writable: context.channel.isWritable, now: self.now()))
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            self.perform(self.machine.drain())
            return
        }

        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.machine.isClosed, !self.lingering else { return }
        guard let parseError = error as? HTTPParserError else {
            // An I/O error: the client is gone.
            self.clientWentAway()
            self.closeChannel()
            return
        }
        let refusal: GatewayError
        switch parseError {
        case .headerOverflow: refusal = .headersTooLarge
        default: refusal = .protocolError
        }
        if self.mustQueue {
            // The bad bytes follow requests still to be answered: the error takes its turn after them.
            _ = self.pipelined.append(.failure(refusal))
            return
        }
        self.perform(self.machine.protocolError(refusal, now: self.now(), timeouts: self.currentTimeouts()))
    }

    /// The graceful stop's drain timeout passed: the exchange (if any) ends as the gateway's doing.
    func endForDrain() {
        guard !self.machine.isClosed else { return }
        self.captureUsage()
        self.perform(self.machine.forceClose(.drain))
    }

    // MARK: Request side

    func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head): self.receiveHead(head)
        case .body(let buffer): self.receiveBody(buffer)
        case .end: self.perform(self.machine.requestEnded(now: self.now()))
        }
    }

    private func receiveHead(_ head: HTTPRequestHead) {
        let now = self.now()
        let snapshot = self.loop.snapshot()
        let check = RequestHeadCheck.check(head, isHTTP2: self.isHTTP2, config: snapshot.config)
        let facts: RequestHeadCheck.Facts
        let refusal: GatewayError?
        switch check {
        case .accepted(let accepted): (facts, refusal) = (accepted, nil)
        case .refused(let error, let partial): (facts, refusal) = (partial, error)
        }
        let timeouts = LifecycleStateMachine.Timeouts(snapshot.config.http)
        guard self.machine.headReceived(now: now, framing: facts.framing, timeouts: timeouts) != nil else {
            // A head while an exchange is in flight: the decoder and the queue disagree.
            self.perform(self.machine.clientClosed())
            self.closeChannel()
            return
        }
        let exchange = Exchange(
            snapshot: snapshot, head: head, target: facts.target, endpoint: facts.endpoint,
            requestID: facts.clientRequestID ?? self.loop.requestIDs.next(), receivedAt: now, connection: self.connection,
            loop: self.loop, route: facts.route)
        exchange.bodyLimit = facts.bodyLimit
        self.begin(exchange)
        if let refusal {
            self.perform(self.machine.respond(refusal, now: now))
            return
        }
        self.armTimer()
        self.runStages(.head, from: 0)
    }

    /// Makes `exchange` current and registers the obligations every exchange carries. The
    /// access log registers first, so it runs last and sees what the others recorded.
    func begin(_ exchange: Exchange) {
        exchange.registerStandardObligations(traced: true)
        self.exchange = exchange
    }

    private func receiveBody(_ buffer: ByteBuffer) {
        guard self.machine.bodyPartReceived(bytes: buffer.readableBytes) == .collect, let exchange = self.exchange else { return }
        exchange.requestBytes += buffer.readableBytes
        let total = (exchange.body?.readableBytes ?? 0) + buffer.readableBytes
        if total > exchange.bodyLimit {
            self.perform(self.machine.respond(.bodyTooLarge(limit: exchange.bodyLimit, bodyRead: false), now: self.now()))
            return
        }
        if exchange.body == nil {
            exchange.body = buffer
        } else {
            var buffer = buffer
            exchange.body!.writeBuffer(&buffer)
        }
    }

    // MARK: Stages

    func runStages(_ pass: StagePass, from start: Int) {
        guard let exchange = self.exchange else { return }
        switch StageRunner.run(exchange.snapshot.pipeline.stages(pass), from: start, on: exchange) {
        case .passed:
            self.perform(self.machine.stagesPassed(pass))
        case .refused(let error):
            self.perform(self.machine.respond(error, now: self.now()))
        case .suspended(let index, let suspension):
            guard
                let token = self.machine.stageSuspended(
                    pass, at: index, deadline: suspension.deadline, timeoutError: suspension.timeoutError,
                    failureError: suspension.failureError)
            else { return }
            if pass == .head {
                // The caller is not authenticated yet: read no more of its body meanwhile.
                self.readsPausedForStages = true
                self.updateAutoRead()
            }
            self.suspensionCancel = suspension.cancel
            self.armTimer()
            suspension.future.hop(to: self.loop.eventLoop).assumeIsolated().whenComplete { result in
                self.suspensionEnded(token, result: result)
            }
        }
    }

    private func suspensionEnded(_ token: LifecycleStateMachine.SuspensionToken, result: Result<SuspensionResult, any Error>) {
        guard self.machine.isCurrent(token) else { return }  // stale: already cancelled and answered
        self.suspensionCancel = nil
        self.exchange?.trace?.stageResumed(result)
        if self.readsPausedForStages {
            self.readsPausedForStages = false
            self.updateAutoRead()
        }
        if case .failure(let error) = result {
            // The refusal is in the access log; the cause is here (never a credential: stages
            // fail their waits with errors of their own).
            self.loop.warnRateLimited(
                "a stage's wait failed", metadata: ["request": "\(self.exchange?.requestID ?? "-")", "error": "\(error)"])
        }
        self.perform(self.machine.suspensionEnded(token, result: result, now: self.now()))
    }

    /// Every stage said proceed: answer locally or forward.
    func dispatch() {
        guard let exchange = self.exchange else { return }
        let now = self.now()
        switch exchange.endpoint {
        case .models:
            self.localBody = exchange.snapshot.config.modelListBody(for: exchange.plan)
            self.perform(self.machine.respondLocally(now: now))
        case .model:
            let name = String(exchange.target.path.dropFirst(EndpointKind.modelPrefix.count))
            if let body = exchange.snapshot.config.modelBody(name, plan: exchange.plan) {
                self.localBody = body
                self.perform(self.machine.respondLocally(now: now))
            } else {
                self.perform(self.machine.respond(.modelNotFound(name), now: now))
            }
        case .chatCompletions, .completions, .embeddings, .pathRoute:
            guard var preferred = exchange.backend else {
                self.perform(self.machine.respond(.internalError, now: now))
                return
            }
            if let route = exchange.route, route.weights != nil,
                let drawn = route.backend(roll: self.loop.random.next(), in: exchange.plan?.regions)
            {
                preferred = drawn
            }
            switch self.admit(exchange, preferred: preferred, now: now) {
            case .success(let backend):
                exchange.backend = backend
                self.perform(
                    self.machine.startForwarding(
                        endpointCount: backend.endpoints.count, retries: LifecycleStateMachine.RetryPolicy(backend.retries),
                        totalTimeout: exchange.route?.totalTimeout ?? backend.totalTimeout, now: now))
            case .failure(let refusal):
                self.perform(self.machine.respond(refusal, now: now))
            }
        case .none:
            self.perform(self.machine.respond(.internalError, now: now))
        }
    }
}

extension LifecycleStateMachine.Timeouts {
    init(_ http: HTTPSpec) {
        self.init(
            header: .nanoseconds(http.headerTimeoutNanos), body: .nanoseconds(http.bodyTimeoutNanos),
            idle: .nanoseconds(http.idleTimeoutNanos),
            sseKeepAlive: http.sseKeepAliveNanos > 0 ? .nanoseconds(http.sseKeepAliveNanos) : nil,
            clientWrite: .nanoseconds(http.idleTimeoutNanos))
    }
}
