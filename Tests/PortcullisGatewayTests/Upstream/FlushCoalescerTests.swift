import NIOCore
import NIOEmbedded
import Testing

@testable import PortcullisGateway

/// The HTTP/2 connection's flush coalescing on its own: many flushes, one pass to the socket,
/// never a flush lost.
@Suite struct FlushCoalescerTests {
    /// Counts the flushes that get past the coalescer (toward TLS and the socket).
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0

        func flush(context: ChannelHandlerContext) {
            self.flushes += 1
            context.flush()
        }
    }

    static func make() throws -> (EmbeddedChannel, FlushCounter) {
        let counter = FlushCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        return (channel, counter)
    }

    static func drain(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test func flushesFromOutsideAReadBecomeOneAtTheEndOfTheTick() throws {
        let (channel, counter) = try Self.make()
        for text in ["a", "b", "c"] {
            channel.write(ByteBuffer(string: text), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0)
        #expect(try Self.drain(channel).isEmpty)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        #expect(try Self.drain(channel) == ["a", "b", "c"])
        // Nothing pending: the next tick passes nothing on.
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        _ = try channel.finish()
    }

    /// Answers every read with two writes and two flushes, as streams answered in one read do.
    final class Answerer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        var flushesSeenInRead = -1
        let counter: FlushCounter
        init(counter: FlushCounter) { self.counter = counter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            for text in ["x", "y"] { context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: text)), promise: nil) }
            self.flushesSeenInRead = self.counter.flushes
        }
    }

    @Test func flushesDuringAReadBatchGoOutAtItsEnd() throws {
        let (channel, counter) = try Self.make()
        let answerer = Answerer(counter: counter)
        try channel.pipeline.syncOperations.addHandler(answerer)
        // writeInbound reads, then completes the read batch.
        try channel.writeInbound(ByteBuffer(string: "request"))
        #expect(answerer.flushesSeenInRead == 0, "no flush passed on inside the read")
        #expect(counter.flushes == 1, "one flush at the batch's end")
        #expect(try Self.drain(channel) == ["x", "y"])
        // The task queued meanwhile finds nothing left to do.
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aCloseFlushesWhatIsPendingFirst() throws {
        let (channel, counter) = try Self.make()
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ByteBuffer(string: "GOAWAY"), promise: written)
        channel.flush()
        try channel.close().wait()
        #expect(counter.flushes == 1)
        #expect(try Self.drain(channel) == ["GOAWAY"])
        try written.futureResult.wait()
    }

    @Test func aWritePromiseCompletesOnlyOnceTheCoalescedFlushRan() throws {
        let (channel, _) = try Self.make()
        let written = channel.eventLoop.makePromise(of: Void.self)
        var done = false
        written.futureResult.whenSuccess { done = true }
        channel.write(ByteBuffer(string: "end"), promise: written)
        channel.flush()
        #expect(!done)
        channel.embeddedEventLoop.run()
        #expect(done)
        _ = try channel.finish()
    }
}

extension FlushCoalescerTests {
    @Test func aLargeWriteIsFlushedAtOnceSoBackpressureSeesIt() throws {
        let (channel, counter) = try Self.make()
        channel.write(ByteBuffer(repeating: 0x61, count: FlushCoalescer.byteLimit), promise: nil)
        channel.flush()
        #expect(counter.flushes == 1)
        // Below the limit again: deferred as before.
        channel.write(ByteBuffer(string: "small"), promise: nil)
        channel.flush()
        #expect(counter.flushes == 1)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        _ = try channel.finish()
    }
}
