import NIOCore
import NIOSSL

/// Sits in front of the HTTP/1 decoder and tells the request handler when raw bytes arrive,
/// so a slow head (slowloris) gets the header timeout while a quiet keep-alive connection gets
/// the idle timeout. Passes every byte through untouched.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let state: ConnectionState

    init(state: ConnectionState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.state.proxy?.rawBytesArrived()
        context.fireChannelRead(data)
    }
}
