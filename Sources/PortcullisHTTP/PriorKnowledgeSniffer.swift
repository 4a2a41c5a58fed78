import NIOCore

/// The first handler of a connection that may speak HTTP/1.1 or HTTP/2 with prior knowledge
/// (h2c): it holds the first bytes until they show which (HTTP/2's connection preface, or
/// anything else), lets `configure` build the pipeline for that protocol behind it, then
/// removes itself and passes the held bytes on.
final class PriorKnowledgeSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configure: (any Channel, _ http2: Bool) throws -> Void
    private var held: ByteBuffer?

    init(configure: @escaping (any Channel, _ http2: Bool) throws -> Void) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.held == nil { self.held = bytes } else { self.held!.writeBuffer(&bytes) }
        let seen = self.held!.readableBytesView
        let compared = min(seen.count, Self.preface.count)
        let matches = seen.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        guard !matches || compared == Self.preface.count else { return }  // not enough yet
        do {
            try self.configure(context.channel, matches)
        } catch {
            context.close(promise: nil)
            return
        }
        let held = self.held!
        self.held = nil
        context.fireChannelRead(self.wrapInboundOut(held))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
