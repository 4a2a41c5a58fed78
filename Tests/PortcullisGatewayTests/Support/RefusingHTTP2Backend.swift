import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// An h2c (prior knowledge) backend that refuses its first `refusals` streams with
/// RST_STREAM(REFUSED_STREAM), as a server going away or at its stream limit does, and
/// answers the others with a small JSON chat completion. Counts the streams it saw.
final class RefusingHTTP2Backend: Sendable {
    private let channel: any Channel
    private let streams: NIOLockedValueBox<Int>

    var port: Int { self.channel.localAddress?.port ?? 0 }
    var streamsSeen: Int { self.streams.withLockedValue { $0 } }

    private init(channel: any Channel, streams: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.streams = streams
    }

    private final class Stream: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias OutboundOut = HTTP2Frame.FramePayload
        let refuse: Bool

        init(refuse: Bool) { self.refuse = refuse }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let endStream: Bool
            switch self.unwrapInboundIn(data) {
            case .headers(let headers): endStream = headers.endStream
            case .data(let data): endStream = data.endStream
            default: return
            }
            guard endStream else { return }
            if self.refuse {
                context.writeAndFlush(self.wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
                return
            }
            let body = #"{"id":"c1","object":"chat.completion","created":1,"model":"demo-chat","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#
            let headers = HPACKHeaders([(":status", "200"), ("content-type", "application/json"), ("content-length", String(body.utf8.count))])
            context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer(string: body)), endStream: true))), promise: nil)
        }
    }

    static func start(refusals: Int) async throws -> RefusingHTTP2Backend {
        let streams = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in
                        let seen = streams.withLockedValue { count -> Int in
                            count += 1
                            return count
                        }
                        return stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(Stream(refuse: seen <= refusals))
                        }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RefusingHTTP2Backend(channel: channel, streams: streams)
    }

    func close() async {
        try? await self.channel.close()
    }
}
