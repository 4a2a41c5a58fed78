import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A plain TCP connection for sending hand-crafted (often malformed) HTTP and reading whatever
/// comes back, with bounded waits.
public final class RawConnection: Sendable {
    private let channel: any Channel
    private let received: NIOLockedValueBox<(ByteBuffer, Bool)>

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<(ByteBuffer, Bool)>
        init(_ received: NIOLockedValueBox<(ByteBuffer, Bool)>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            self.received.withLockedValue { _ = $0.0.writeBuffer(&buffer) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            self.received.withLockedValue { $0.1 = true }
        }
    }

    private init(channel: any Channel, received: NIOLockedValueBox<(ByteBuffer, Bool)>) {
        self.channel = channel
        self.received = received
    }

    /// Connects over plain TCP, or over TLS trusting `tlsCA` (offering `alpn`).
    public static func connect(
        port: Int, host: String = "127.0.0.1", tlsCA: String? = nil, alpn: [String] = []
    ) async throws -> RawConnection {
        let received = NIOLockedValueBox<(ByteBuffer, Bool)>((ByteBuffer(), false))
        var sslContext: NIOSSLContext?
        if let tlsCA {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(tlsCA)
            tls.applicationProtocols = alpn
            sslContext = try NIOSSLContext(configuration: tls)
        }
        let context = sslContext
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(received))
                }
            }
            .connect(host: host, port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    public func send(_ text: String) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(string: text))
    }

    public func send(bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public var text: String { self.received.withLockedValue { String(buffer: $0.0) } }
    public var bytes: [UInt8] { self.received.withLockedValue { Array($0.0.readableBytesView) } }
    public var isClosedByPeer: Bool { self.received.withLockedValue { $0.1 } }

    /// Waits until the received text contains `needle` (or the peer closed), bounded.
    @discardableResult
    public func waitFor(_ needle: String, timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (text, closed) = self.received.withLockedValue { (String(buffer: $0.0), $0.1) }
            if text.contains(needle) || closed { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.text
    }

    /// Waits until the peer closes the connection, bounded; returns whether it did.
    public func waitForClose(timeout: Duration = .seconds(10)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.isClosedByPeer { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    public func close() async {
        try? await self.channel.close()
    }
}
