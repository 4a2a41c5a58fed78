import NIOHTTP1
import PortcullisCore

/// Parts of pipelined HTTP/1.1 requests that arrived while the current one was in flight.
///
/// NIO's `HTTPServerPipelineHandler` would pause reads instead, which costs two `epoll_ctl`
/// calls per proxied request; queueing here costs nothing unless a client actually pipelines,
/// and reads pause only when the queue grows past a bound (then resume once it is replayed).
struct PipelinedRequests {
    static let partLimit = 64
    static let byteLimit = 256 * 1024

    /// A queued request part, or the parse error that followed the parts before it (answered
    /// in its turn, after them).
    enum Item {
        case part(HTTPServerRequestPart)
        case failure(GatewayError)
    }

    private var parts: [Item] = []
    private var head = 0
    private var bytes = 0
    /// Reads are paused because the queue is full.
    private(set) var pausedReads = false

    var isEmpty: Bool { self.head == self.parts.count }

    enum ReadControl { case none, pause, resume }

    /// Queues a part; says whether reads must now pause.
    mutating func append(_ item: Item) -> ReadControl {
        self.parts.append(item)
        if case .part(.body(let buffer)) = item { self.bytes += buffer.readableBytes }
        if !self.pausedReads && (self.parts.count - self.head > Self.partLimit || self.bytes > Self.byteLimit) {
            self.pausedReads = true
            return .pause
        }
        return .none
    }

    /// The next queued item, if any.
    mutating func next() -> Item? {
        guard self.head < self.parts.count else { return nil }
        let part = self.parts[self.head]
        self.head += 1
        if case .part(.body(let buffer)) = part { self.bytes -= buffer.readableBytes }
        if self.head == self.parts.count {
            self.parts.removeAll(keepingCapacity: true)
            self.head = 0
        }
        return part
    }

    /// After a replay: reads resume once the queue is empty again.
    mutating func replayEnded() -> ReadControl {
        guard self.isEmpty, self.pausedReads else { return .none }
        self.pausedReads = false
        return .resume
    }

    mutating func removeAll() {
        self.parts.removeAll()
        self.head = 0
        self.bytes = 0
    }
}
