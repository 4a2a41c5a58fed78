import NIOCore
import NIOHTTP2

/// Ends an HTTP/2 connection on the errors that must end it: flood limits (rapid reset and its
/// cousins), stream-limit violations, a bad preface, and any non-HTTP/2 error (TLS, I/O).
/// Other HTTP/2 errors are stream-scoped (NIOHTTP2 already sent RST_STREAM; the other streams
/// carry on) or connection errors after which NIOHTTP2 sent GOAWAY and accepts no new stream,
/// so the connection ends when its peer closes it or when it is idle.
final class HTTP2ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.endsConnection(error) {
            context.close(promise: nil)
        }
    }

    static func endsConnection(_ error: any Error) -> Bool {
        guard error is any NIOHTTP2Error else { return true }
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveControlFrames,
            is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveStreamErrors,
            is NIOHTTP2Errors.ExcessiveNumberOfGlitches, is NIOHTTP2Errors.ExcessiveEmptyDataFrames,
            is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering, is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock,
            is NIOHTTP2Errors.MaxStreamsViolation, is NIOHTTP2Errors.BadClientMagic, is NIOHTTP2Errors.MissingPreface:
            return true
        default:
            return false
        }
    }
}
