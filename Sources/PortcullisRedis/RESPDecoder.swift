import NIOCore

/// Frames the server's replies: bytes in, one ``RESPValue`` per whole reply.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue
    let parser = RESPParser()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        do {
            guard let value = try self.parser.parse(&buffer) else { return .needMoreData }
            context.fireChannelRead(Self.wrapInboundOut(value))
            return .continue
        } catch {
            throw RedisError.protocolError(error.description)
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}
