import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The gateway's request path for one HTTP/1.1 connection or one HTTP/2 stream.
///
/// Everything happens on the connection's event loop: the head is checked and routed, head
/// stages run, the body is collected up to its limit, body stages run, and the request is
/// written to an upstream connection borrowed from this loop's pool. The response streams
/// back part by part (never collected), with the SSE and usage scanners watching the bytes go
/// by. End-of-request work (access log, returning the upstream connection, timers) happens in
/// ``finishExchange()``, reached exactly once from every path.
///
/// Deliberately does not: buffer response bodies, parse response JSON beyond the usage scan,
/// retry a request whose bytes may have reached a backend (the one exception is a pooled
/// connection that closed before answering anything, the keep-alive race).
final class ProxyHandler: ChannelInboundHandler, UpstreamResponseDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Phase {
        /// Waiting for a request head.
        case idle
        /// Collecting the request body.
        case readingBody
        /// A response was already sent; the rest of the request body is read and dropped.
        case discardingBody
        /// The request is complete; stages or the upstream connection are being waited for.
        case processing
        /// The upstream request is written; waiting for the response head.
        case awaitingResponse
        /// Response parts are flowing to the client.
        case streaming
        /// The connection is closing; everything further is ignored.
        case closed
    }

    let loop: LoopContext
    let connection: ConnectionState
    var context: ChannelHandlerContext!
    var phase: Phase = .idle
    var exchange: Exchange?
    var upstream: UpstreamConnection?

    // Per-request flags (reset by `finishExchange`).
    var headStagesDone = false
    var requestComplete = false
    var responseHeadSent = false
    var closeAfterResponse = false
    var expectContinue = false
    var bodyLimit = 0
    var bodyStartedAt = NIODeadline.distantPast
    var lastUpstreamReadAt = NIODeadline.distantPast
    var lastClientWriteAt = NIODeadline.distantPast
    var sse: SSEScanner?
    var usageScanner: UsageScanner?
    var pendingFlush = false
    /// A parse error in a pipelined request, answered once the current response has ended.
    var deferredRefusal: GatewayError?
    var declaredBodyLength: Int?
    var chunkedBody = false
    /// Largest rest of a refused request's body read and dropped to keep the connection; more
    /// than this (or an unknown length, or a client waiting on `Expect`) closes it instead.
    static let discardLimit = 64 * 1024

    /// Parts of pipelined HTTP/1.1 requests that arrived while the current one was in flight.
    /// NIO's `HTTPServerPipelineHandler` would do this by pausing reads, which costs two
    /// `epoll_ctl` calls per proxied request; queueing here costs nothing unless a client
    /// actually pipelines, and reads pause only when the queue grows past a bound.
    var pipelined: [HTTPServerRequestPart] = []
    var pipelinedBytes = 0
    var readsPausedForPipelining = false
    var readsPausedForStages = false
    var drainingPipelined = false
    static let pipelinedLimit = 256 * 1024

    // The connection's one timer (see ProxyHandler+Timers.swift).
    var timer: Scheduled<Void>?
    var timerAt = NIODeadline.distantFuture

    init(loop: LoopContext, connection: ConnectionState) {
        self.loop = loop
        self.connection = connection
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !self.connection.isHTTP2 { self.connection.proxy = self }
        if context.channel.isActive {
            self.armTimer()
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armTimer()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if self.requestComplete || !self.pipelined.isEmpty {
            // The current request is fully read but not answered yet: this part belongs to a
            // pipelined request, handled once the current response ends.
            self.queuePipelined(part)
            return
        }
        self.handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            self.receiveHead(head)
        case .body(let buffer):
            self.receiveBody(buffer)
        case .end:
            self.receiveEnd()
        }
    }

    private func queuePipelined(_ part: HTTPServerRequestPart) {
        guard !self.connection.isHTTP2, self.phase != .closed else { return }
        self.pipelined.append(part)
        if case .body(let buffer) = part { self.pipelinedBytes += buffer.readableBytes }
        if !self.readsPausedForPipelining
            && (self.pipelined.count > 64 || self.pipelinedBytes > Self.pipelinedLimit)
        {
            self.setReadsPaused(true, forPipelining: true)
        }
    }

    /// Reads stop while either reason holds (a full pipelining queue, or a head stage waiting).
    func setReadsPaused(_ paused: Bool, forPipelining: Bool) {
        let wasPaused = self.readsPausedForPipelining || self.readsPausedForStages
        if forPipelining { self.readsPausedForPipelining = paused } else { self.readsPausedForStages = paused }
        let isPaused = self.readsPausedForPipelining || self.readsPausedForStages
        guard wasPaused != isPaused, let context = self.context else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: !isPaused).whenFailure { _ in }
    }

    /// Replays queued pipelined parts after a response ended (called from `finishExchange`).
    func drainPipelined() {
        guard !self.drainingPipelined else { return }
        self.drainingPipelined = true
        defer { self.drainingPipelined = false }
        while !self.pipelined.isEmpty && !self.requestComplete && self.phase != .closed {
            let part = self.pipelined.removeFirst()
            if case .body(let buffer) = part { self.pipelinedBytes -= buffer.readableBytes }
            self.handle(part)
        }
        if self.pipelined.isEmpty && self.readsPausedForPipelining && self.phase != .closed {
            self.setReadsPaused(false, forPipelining: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange = self.exchange {
            exchange.abortReason = exchange.abortReason ?? "client_closed"
            if exchange.status == 0 { exchange.status = 499 }
            self.upstream?.abandon()
            self.upstream = nil
            self.finishExchange(closing: true)
        }
        self.phase = .closed
        self.cancelTimer()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.upstream?.resumeReads()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard self.phase != .closed else { return }
        if let parseError = error as? HTTPParserError {
            let refusal: GatewayError
            switch parseError {
            case .headerOverflow: refusal = .headersTooLarge()
            default: refusal = .protocolError()
            }
            if self.exchange != nil && self.requestComplete {
                // The bad bytes belong to a pipelined request: the current one was read whole and
                // may already be at the backend. Finish it, then answer the error and close.
                self.deferredRefusal = refusal
                return
            }
            guard !self.responseHeadSent else {
                self.closeNow()
                return
            }
            // The request could not be parsed: answer if nothing was answered yet, then close.
            if self.exchange == nil {
                self.respondWithoutExchange(refusal)
            } else {
                self.respond(refusal)
            }
            return
        }
        self.closeNow()
    }

    // MARK: Request side

    private func receiveHead(_ head: HTTPRequestHead) {
        guard self.phase == .idle else {
            self.closeNow()
            return
        }
        let now = NIODeadline.now()
        self.connection.awaitingHead = false
        self.connection.headBytesAt = nil
        self.connection.isFresh = false
        let snapshot = self.loop.snapshot()
        let http = snapshot.config.http

        if self.connection.isHTTP2 {
            // HTTP/1 limits are enforced by the decoder; HTTP/2 headers are checked here.
            var bytes = 0
            for (name, value) in head.headers { bytes += name.utf8.count + value.utf8.count }
            if head.headers.count > http.maxHeaderCount || bytes > http.maxHeaderBytes {
                self.respondWithoutExchange(.headersTooLarge())
                return
            }
        }

        let target: RequestTarget
        switch RequestTarget.parse(head.uri) {
        case .success(let parsed): target = parsed
        case .failure:
            self.respondWithoutExchange(.badPath())
            return
        }

        let requestID: String
        if let supplied = head.headers.first(name: "x-request-id"), RequestID.isSane(Substring(supplied)) {
            requestID = supplied
        } else {
            requestID = self.loop.requestIDs.next()
        }

        // Fixed endpoints first, then path-prefix routes.
        var endpoint: EndpointKind
        var route: Route?
        var refusal: GatewayError?
        switch target.path {
        case "/v1/chat/completions":
            endpoint = .chatCompletions
        case "/v1/completions":
            endpoint = .completions
        case "/v1/embeddings":
            endpoint = .embeddings
        case "/v1/models":
            endpoint = .models
        default:
            if let pathRoute = snapshot.config.router.route(path: target.path) {
                endpoint = .pathRoute
                route = pathRoute
            } else if target.path.hasPrefix("/v1/models/") {
                endpoint = .model
            } else {
                endpoint = .pathRoute
                refusal = .notFound()
            }
        }
        if refusal == nil {
            switch endpoint {
            case .chatCompletions, .completions, .embeddings:
                if head.method != .POST { refusal = .methodNotAllowed(allowed: "POST") }
            case .models, .model:
                if head.method != .GET { refusal = .methodNotAllowed(allowed: "GET") }
            case .pathRoute:
                break
            }
        }

        let exchange = Exchange(
            snapshot: snapshot, head: head, target: target, endpoint: endpoint, requestID: requestID,
            receivedAt: now, connection: self.connection, loop: self.loop, route: route)
        self.exchange = exchange
        // HTTP/2 streams are never "kept alive" in the HTTP/1 sense (NIO reports false for 2.0).
        self.closeAfterResponse = !self.connection.isHTTP2 && !head.isKeepAlive
        self.declaredBodyLength = head.headers.first(name: "content-length").flatMap { Int($0) }
        self.chunkedBody = head.headers.contains(name: "transfer-encoding")
        self.bodyLimit = route?.maxRequestBytes ?? http.maxRequestBytes
        self.phase = .readingBody
        self.bodyStartedAt = now
        self.expectContinue = head.headers.first(name: "expect").map { $0.lowercased() == "100-continue" } ?? false

        if let refusal {
            self.respond(refusal)
            return
        }
        if let length = head.headers.first(name: "content-length").flatMap({ Int($0) }), length > self.bodyLimit {
            self.respond(.bodyTooLarge(limit: self.bodyLimit))
            return
        }
        self.armTimer()
        self.runStages(.head, from: 0)
    }

    private func receiveBody(_ buffer: ByteBuffer) {
        switch self.phase {
        case .readingBody, .processing:
            guard !self.requestComplete, let exchange = self.exchange else { return }
            let total = (exchange.body?.readableBytes ?? 0) + buffer.readableBytes
            if total > self.bodyLimit {
                self.respond(.bodyTooLarge(limit: self.bodyLimit))
                return
            }
            if exchange.body == nil {
                exchange.body = buffer
            } else {
                var buffer = buffer
                exchange.body!.writeBuffer(&buffer)
            }
        case .discardingBody:
            break
        default:
            break
        }
    }

    private func receiveEnd() {
        self.requestComplete = true
        self.connection.currentRequestComplete = true
        switch self.phase {
        case .readingBody, .processing:
            if self.headStagesDone {
                self.phase = .processing
                self.runStages(.body, from: 0)
            }
        case .discardingBody:
            // A response was already sent; the request is now fully read.
            self.finishExchange(closing: self.closeAfterResponse)
        default:
            break
        }
    }

    // MARK: Stages

    enum StagePass { case head, body }

    func runStages(_ pass: StagePass, from start: Int) {
        guard let exchange = self.exchange else { return }
        let stages = pass == .head ? exchange.snapshot.pipeline.headStages : exchange.snapshot.pipeline.bodyStages
        var index = start
        while index < stages.count {
            switch stages[index].evaluate(exchange) {
            case .proceed:
                index += 1
            case .refuse(let error):
                self.respond(error)
                return
            case .suspend(let future):
                let resumeAt = index
                let eventLoop = self.context.eventLoop
                if pass == .head {
                    // The caller is not authenticated yet: read no more of its body meanwhile.
                    self.setReadsPaused(true, forPipelining: false)
                }
                future.hop(to: eventLoop).assumeIsolated().whenComplete { result in
                    if pass == .head { self.setReadsPaused(false, forPipelining: false) }
                    guard self.exchange === exchange, self.phase != .closed else { return }
                    switch result {
                    case .success(.proceed):
                        self.runStages(pass, from: resumeAt + 1)
                    case .success(.refuse(let error)):
                        self.respond(error)
                    case .success(.suspend):
                        // A stage resolved to another suspension: evaluate it again.
                        self.runStages(pass, from: resumeAt)
                    case .failure:
                        self.respond(.internalError())
                    }
                }
                return
            }
        }
        switch pass {
        case .head:
            self.headStagesDone = true
            if self.requestComplete {
                self.phase = .processing
                self.runStages(.body, from: 0)
            } else if self.expectContinue {
                self.context.writeAndFlush(
                    self.wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: .continue))),
                    promise: nil)
            }
        case .body:
            self.dispatch(exchange)
        }
    }

    /// Every stage said proceed: answer locally or forward.
    private func dispatch(_ exchange: Exchange) {
        switch exchange.endpoint {
        case .models:
            self.respondJSON(status: .ok, body: exchange.snapshot.config.modelListBody)
        case .model:
            let name = String(exchange.target.path.dropFirst("/v1/models/".count))
            if let body = exchange.snapshot.config.modelBody(name) {
                self.respondJSON(status: .ok, body: body)
            } else {
                self.respond(.modelNotFound(name))
            }
        case .chatCompletions, .completions, .embeddings, .pathRoute:
            guard exchange.route != nil else {
                self.respond(.internalError())
                return
            }
            self.forward(exchange, attempt: 0)
        }
    }
}
