import NIOCore
import NIOHTTP1

/// The first handler of an HTTP/1 client connection: tells the request handler that bytes
/// arrived (so a slow head, slowloris, gets the header timeout while a quiet keep-alive
/// connection gets the idle timeout) and turns the bytes into request parts with
/// ``ClientRequestParser``. A malformed request becomes one of NIO's `HTTPParserError`s
/// (`headerOverflow` for a head over the limits), which ``ProxyHandler`` answers in its turn;
/// nothing after it is parsed.
final class ClientRequestDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart

    private let state: ConnectionState
    private var parser: ClientRequestParser
    private var failed = false

    init(state: ConnectionState, limits: ClientRequestParser.Limits) {
        self.state = state
        self.parser = ClientRequestParser(limits: limits)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.state.proxy?.rawBytesArrived()
        guard !self.failed else { return }
        self.parser.append(self.unwrapInboundIn(data))
        while true {
            let event: ClientRequestParser.Event?
            do {
                event = try self.parser.next()
            } catch {
                self.failed = true
                self.parser = ClientRequestParser(limits: self.parser.limits)  // drops what was buffered
                context.fireErrorCaught(Self.parserError(error))
                return
            }
            switch event {
            case .head(let head): context.fireChannelRead(self.wrapInboundOut(.head(head)))
            case .body(let part): context.fireChannelRead(self.wrapInboundOut(.body(part)))
            case .end: context.fireChannelRead(self.wrapInboundOut(.end(nil)))
            case nil: return
            }
        }
    }

    static func parserError(_ error: ClientRequestParser.ParseError) -> HTTPParserError {
        switch error {
        case .headTooLarge: .headerOverflow
        case .badRequestLine: .invalidURL
        case .badHeader: .invalidHeaderToken
        case .badFraming: .unexpectedContentLength
        case .badChunk: .invalidChunkSize
        }
    }
}
