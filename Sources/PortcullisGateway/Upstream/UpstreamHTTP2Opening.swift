import NIOCore

/// What the deadline of an HTTP/2 connection being opened needs to know (see
/// `UpstreamPool.connectHTTP2`). Used on the pool's event loop only: the deadline task and the
/// connect's completions all run there.
final class UpstreamHTTP2Opening: @unchecked Sendable {
    var finished = false
    var channel: (any Channel)?
}
