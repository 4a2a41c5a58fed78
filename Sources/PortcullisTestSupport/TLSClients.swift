import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP2
import NIOHPACK
import NIOPosix
import NIOSSL
import NIOTLS
import X509

/// TLS clients for tests: an AsyncHTTPClient trusting the test CA (optionally presenting a
/// client certificate), a probe that reports the server certificate's common name, and a raw
/// HTTP/2 connection for frame-level tests (resets, settings, stream limits).
public enum TLSClients {
    public static func httpClient(ca: String, certificate: String? = nil, key: String? = nil, http2: Bool = true) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        if let certificate, let key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = http2 ? .automatic : .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Runs `body` with a TLS client, shutting it down on every path.
    public static func with<T>(
        ca: String, certificate: String? = nil, key: String? = nil, http2: Bool = true, _ body: (HTTPClient) async throws -> T
    ) async throws -> T {
        let client = try self.httpClient(ca: ca, certificate: certificate, key: key, http2: http2)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Connects, completes a TLS handshake and returns the common name of the server's certificate.
    public static func serverCommonName(port: Int, ca: String) async throws -> String? {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        let context = try NIOSSLContext(configuration: tls)
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: "localhost")
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeProbe(promise: promise, tls: handler))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    private final class HandshakeProbe: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<String?>
        let tls: NIOSSLClientHandler

        init(promise: EventLoopPromise<String?>, tls: NIOSSLClientHandler) {
            self.promise = promise
            self.tls = tls
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
                var name: String?
                if let der = try? self.tls.peerCertificate?.toDERBytes(), let certificate = try? Certificate(derEncoded: der) {
                    for rdn in certificate.subject {
                        for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                            name = attribute.value.description
                        }
                    }
                }
                self.promise.succeed(name)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.promise.fail(TestFailure("closed before the handshake completed"))
        }
    }
}

/// An HTTP/2 connection over TLS that sends and records raw frames.
public final class RawHTTP2Connection: Sendable {
    private let channel: any Channel
    private let frames: NIOLockedValueBox<[(HTTP2StreamID, HTTP2Frame.FramePayload)]>
    private let closed: NIOLockedValueBox<Bool>

    private final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame
        let frames: NIOLockedValueBox<[(HTTP2StreamID, HTTP2Frame.FramePayload)]>
        let closed: NIOLockedValueBox<Bool>
        init(frames: NIOLockedValueBox<[(HTTP2StreamID, HTTP2Frame.FramePayload)]>, closed: NIOLockedValueBox<Bool>) {
            self.frames = frames
            self.closed = closed
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = self.unwrapInboundIn(data)
            self.frames.withLockedValue { $0.append((frame.streamID, frame.payload)) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            self.closed.withLockedValue { $0 = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private init(
        channel: any Channel, frames: NIOLockedValueBox<[(HTTP2StreamID, HTTP2Frame.FramePayload)]>, closed: NIOLockedValueBox<Bool>
    ) {
        self.channel = channel
        self.frames = frames
        self.closed = closed
    }

    public static func connect(port: Int, ca: String) async throws -> RawHTTP2Connection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let frames = NIOLockedValueBox<[(HTTP2StreamID, HTTP2Frame.FramePayload)]>([])
        let closed = NIOLockedValueBox(false)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, initialSettings: nioDefaultSettings))
                    try sync.addHandler(Recorder(frames: frames, closed: closed))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawHTTP2Connection(channel: channel, frames: frames, closed: closed)
    }

    public var received: [HTTP2Frame.FramePayload] { self.frames.withLockedValue { $0.map(\.1) } }

    /// Frames received on stream `id`.
    public func frames(on id: Int) -> [HTTP2Frame.FramePayload] {
        self.frames.withLockedValue { $0.filter { $0.0 == HTTP2StreamID(id) }.map(\.1) }
    }
    public var isClosed: Bool { self.closed.withLockedValue { $0 } }

    /// Opens stream `id` with a request head (and a body when given).
    public func openStream(
        _ id: Int, path: String = "/v1/chat/completions", authority: String? = "localhost", headers: [(String, String)] = [],
        body: String? = nil
    ) {
        var fields: HPACKHeaders = [":method": "POST", ":path": path, ":scheme": "https"]
        if let authority { fields.add(name: ":authority", value: authority) }
        fields.add(name: "content-type", value: "application/json")
        for (name, value) in headers { fields.add(name: name, value: value) }
        self.channel.write(HTTP2Frame(streamID: HTTP2StreamID(id), payload: .headers(.init(headers: fields, endStream: false))), promise: nil)
        if let body {
            self.channel.write(
                HTTP2Frame(streamID: HTTP2StreamID(id), payload: .data(.init(data: .byteBuffer(ByteBuffer(string: body)), endStream: true))),
                promise: nil)
        }
        self.channel.flush()
    }

    public func reset(_ id: Int) {
        self.channel.writeAndFlush(HTTP2Frame(streamID: HTTP2StreamID(id), payload: .rstStream(.cancel)), promise: nil)
    }

    public func close() async {
        try? await self.channel.close()
    }
}
