import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP backend that answers every request with bytes the test wrote by hand (often
/// malformed), to prove what the gateway does with odd or hostile upstream responses. Each
/// request (its head, up to the empty line, plus a `Content-Length` body) gets `response`;
/// with `closeAfterResponse` the connection closes after writing it. With `pauseAfter`, the
/// response is written in two parts, its first `pauseAfter` bytes, then the rest after `pause`.
public final class ScriptedBackend: Sendable {
    private let channel: any Channel
    private let counter: NIOLockedValueBox<Int>

    public var port: Int { self.channel.localAddress?.port ?? 0 }
    /// Requests answered so far.
    public var requests: Int { self.counter.withLockedValue { $0 } }

    private final class Answerer: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let response: [UInt8]
        let closeAfterResponse: Bool
        let pauseAfter: Int?
        let pause: TimeAmount
        let counter: NIOLockedValueBox<Int>
        var pending = ByteBuffer()

        init(response: [UInt8], closeAfterResponse: Bool, pauseAfter: Int?, pause: TimeAmount, counter: NIOLockedValueBox<Int>) {
            self.response = response
            self.closeAfterResponse = closeAfterResponse
            self.pauseAfter = pauseAfter
            self.pause = pause
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            self.pending.writeBuffer(&buffer)
            while let requestLength = Self.completeRequest(self.pending) {
                self.pending.moveReaderIndex(forwardBy: requestLength)
                self.counter.withLockedValue { $0 += 1 }
                if let pauseAfter = self.pauseAfter {
                    context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: self.response[..<pauseAfter])), promise: nil)
                    let rest = ByteBuffer(bytes: self.response[pauseAfter...])
                    let close = self.closeAfterResponse
                    context.eventLoop.assumeIsolated().scheduleTask(in: self.pause) {
                        context.writeAndFlush(self.wrapOutboundOut(rest), promise: nil)
                        if close { context.close(promise: nil) }
                    }
                    return
                }
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: self.response)), promise: nil)
                if self.closeAfterResponse {
                    context.close(promise: nil)
                    return
                }
            }
        }

        /// The length of the first whole request in `buffer` (head plus Content-Length body).
        static func completeRequest(_ buffer: ByteBuffer) -> Int? {
            let text = String(buffer: buffer)
            guard let headEnd = text.utf8.firstRange(of: "\r\n\r\n".utf8) else { return nil }
            let head = String(text[..<headEnd.lowerBound]).lowercased()
            var length = 0
            for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
            }
            let headBytes = text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound)
            return buffer.readableBytes >= headBytes + length ? headBytes + length : nil
        }
    }

    private init(channel: any Channel, counter: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.counter = counter
    }

    public static func start(
        response: String, closeAfterResponse: Bool = false, pauseAfter: Int? = nil, pause: TimeAmount = .zero
    ) async throws -> ScriptedBackend {
        let counter = NIOLockedValueBox(0)
        let bytes = Array(response.utf8)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Answerer(
                            response: bytes, closeAfterResponse: closeAfterResponse, pauseAfter: pauseAfter, pause: pause,
                            counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedBackend(channel: channel, counter: counter)
    }

    public func close() async {
        try? await self.channel.close()
    }
}
