import Atomics
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// A complete request as the embedded server hands it to its handler.
public struct EmbeddedRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: ByteBuffer
    public var path: Substring { self.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }
    public var query: Substring? {
        let parts = self.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count > 1 ? parts[1] : nil
    }
}

/// Writes one response, on the connection's event loop. Supports a one-shot response or a
/// streamed one (head, parts, end), and dropping the connection mid-response (fault injection).
public final class EmbeddedResponseWriter {
    private let context: ChannelHandlerContext
    private let keepAlive: Bool
    private var finished = false

    public var eventLoop: any EventLoop { self.context.eventLoop }
    public var allocator: ByteBufferAllocator { self.context.channel.allocator }
    public var isActive: Bool { self.context.channel.isActive && !self.finished }

    init(context: ChannelHandlerContext, keepAlive: Bool) {
        self.context = context
        self.keepAlive = keepAlive
    }

    public func respond(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer) {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        self.start(status: status, headers: headers)
        self.write(body)
        self.end()
    }

    public func respondJSON(status: HTTPResponseStatus = .ok, _ json: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        self.respond(status: status, headers: headers, body: ByteBuffer(string: json))
    }

    public func start(status: HTTPResponseStatus, headers: HTTPHeaders) {
        guard !self.finished else { return }
        var headers = headers
        if !self.keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        self.context.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil)
    }

    public func write(_ buffer: ByteBuffer, flush: Bool = false) {
        guard !self.finished else { return }
        self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        if flush { self.context.flush() }
    }

    public func flush() {
        guard !self.finished else { return }
        self.context.flush()
    }

    public func end() {
        guard !self.finished else { return }
        self.finished = true
        let keepAlive = self.keepAlive
        let context = self.context
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: promise)
        if !keepAlive {
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Drops the connection without finishing the response.
    public func abort() {
        guard !self.finished else { return }
        self.finished = true
        self.context.flush()
        self.context.close(promise: nil)
    }
}

/// Serves one request at a time with a function: the small HTTP/1.1 server behind the mock
/// backend, the admin listener and the test servers (JWKS). It collects request bodies whole,
/// which is right for those and wrong for the data path (see `ProxyHandler`).
public typealias EmbeddedHandlerFunction = @Sendable (EmbeddedRequest, EmbeddedResponseWriter) -> Void

final class EmbeddedHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let function: EmbeddedHandlerFunction
    private let maxBody: Int
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(function: @escaping EmbeddedHandlerFunction, maxBody: Int) {
        self.function = function
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
            self.tooLarge = false
        case .body(var part):
            if self.body.readableBytes + part.readableBytes > self.maxBody {
                self.tooLarge = true
            } else {
                self.body.writeBuffer(&part)
            }
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let writer = EmbeddedResponseWriter(context: context, keepAlive: head.isKeepAlive)
            if self.tooLarge {
                writer.respondJSON(status: .payloadTooLarge, #"{"error":{"message":"body too large","type":"invalid_request_error","param":null,"code":"request_too_large"}}"#)
                return
            }
            self.function(EmbeddedRequest(head: head, body: self.body), writer)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A running embedded server.
public final class EmbeddedHTTPServer: Sendable {
    public let channel: any Channel
    public let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// `idleTimeout` closes a connection that neither reads nor writes for that long, and
    /// `maxConnections` refuses connections beyond it (the admin listener uses both: an admin
    /// port that clients can fill must not take the process's file descriptors).
    public static func start(
        host: String, port: Int, group: any EventLoopGroup, maxBody: Int = 16 * 1024 * 1024,
        idleTimeout: TimeAmount? = nil, maxConnections: Int? = nil, http2: Bool = false,
        handler: @escaping EmbeddedHandlerFunction
    ) async throws -> EmbeddedHTTPServer {
        let open = ManagedAtomic(0)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                if let maxConnections {
                    guard open.wrappingIncrementThenLoad(ordering: .relaxed) <= maxConnections else {
                        open.wrappingDecrement(ordering: .relaxed)
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in open.wrappingDecrement(ordering: .relaxed) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let idleTimeout {
                        try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                        try sync.addHandler(CloseOnIdle())
                    }
                    if http2 {
                        // HTTP/1.1, or h2c with prior knowledge (the mock's `--http2`), by the
                        // connection's first bytes; each HTTP/2 stream is served as an HTTP/1 exchange.
                        try sync.addHandler(PriorKnowledgeSniffer { channel, isHTTP2 in
                            let sync = channel.pipeline.syncOperations
                            guard isHTTP2 else {
                                try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                                try sync.addHandler(EmbeddedHTTPHandler(function: handler, maxBody: maxBody))
                                return
                            }
                            _ = try sync.configureHTTP2Pipeline(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()) {
                                stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                    try stream.pipeline.syncOperations.addHandler(EmbeddedHTTPHandler(function: handler, maxBody: maxBody))
                                }
                            }
                        })
                        return
                    }
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(EmbeddedHTTPHandler(function: handler, maxBody: maxBody))
                }
            }
            .bind(host: host, port: port)
            .get()
        return EmbeddedHTTPServer(channel: channel)
    }

    public func close() async {
        try? await self.channel.close()
    }
}
