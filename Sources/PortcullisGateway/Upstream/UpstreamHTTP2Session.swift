import NIOCore
import NIOHTTP2

/// One HTTP/2 connection to an upstream endpoint, owned by one event loop's pool: each request
/// opens a stream on it, an ``UpstreamConnection`` over an ``UpstreamHTTP2Bridge``, used once.
/// The connection holds one place under the backend's `maxConnections` however many streams
/// it carries; streams beyond the server's `SETTINGS_MAX_CONCURRENT_STREAMS` wait in NIO's
/// buffer for a free one (the breaker's `maxRequests` bounds them). After a GOAWAY, or once
/// closed, it opens no more streams: the pool connects a fresh one.
/// Used on its event loop only (the pool's), like the channel handlers it sits beside.
final class UpstreamHTTP2Session: @unchecked Sendable {
    let endpointKey: String
    let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let scheme: String
    /// The session's place under `maxConnections` (nil: not counted).
    private let slot: ConnectionSlot?
    private(set) var goingAway = false
    private(set) var isClosed = false
    /// Streams open on it, and when the last one ended: a connection with none for longer
    /// than `keepAlive` is closed by the pool's sweep, giving back its `maxConnections` place.
    private(set) var activeStreams = 0
    private(set) var idleSince = NIODeadline.now()
    let keepAlive: TimeAmount

    init(
        endpointKey: String, channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, scheme: String,
        slot: ConnectionSlot?, keepAlive: TimeAmount
    ) {
        self.keepAlive = keepAlive
        self.endpointKey = endpointKey
        self.channel = channel
        self.multiplexer = multiplexer
        self.scheme = scheme
        self.slot = slot
    }

    var isUsable: Bool { !self.goingAway && !self.isClosed && self.channel.isActive }

    /// A stream for one request, as a connection the pool never takes back.
    func openStream(pool: UpstreamPool) -> EventLoopFuture<UpstreamConnection> {
        let key = self.endpointKey
        let scheme = self.scheme
        let loopBound = NIOLoopBound(pool, eventLoop: self.channel.eventLoop)
        self.activeStreams += 1
        let stream = self.multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(UpstreamHTTP2Bridge(scheme: scheme))
                try sync.addHandler(UpstreamConnection(endpointKey: key, pool: loopBound.value, singleUse: true))
            }
        }
        stream.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.streamEnded() }
            case .failure:
                self.streamEnded()
            }
        }
        return stream.flatMapThrowing { stream in
            try stream.pipeline.syncOperations.handler(type: UpstreamConnection.self)
        }
    }

    private func streamEnded() {
        self.activeStreams -= 1
        guard self.activeStreams == 0 else { return }
        self.idleSince = .now()
        // Going away (GOAWAY, or retired after a reload): closed once its last stream ended.
        if self.goingAway && !self.isClosed { self.channel.close(promise: nil) }
    }

    /// No new streams; closed at once when none is open, else after the last one.
    func retire() {
        self.goingAway = true
        if self.activeStreams == 0 { self.channel.close(promise: nil) }
    }

    /// No stream open for longer than `keepAlive`.
    func isIdle(now: NIODeadline) -> Bool {
        self.activeStreams == 0 && now - self.idleSince > self.keepAlive
    }

    func closed() {
        self.isClosed = true
        self.slot?.release()
    }

    func close() {
        self.goingAway = true
        self.channel.close(promise: nil)
    }
}
