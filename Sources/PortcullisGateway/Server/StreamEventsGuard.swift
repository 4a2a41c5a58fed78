import NIOCore
import NIOHTTP2

/// Passes HTTP/2 stream events on to the connection-management handler (which counts open
/// streams for the idle timeout and the graceful stop), dropping a close for a stream whose
/// creation it never reported: NIOHTTP2's inline multiplexer can report the close of a stream
/// whose channel failed before its creation event (a request without `:authority`), and the
/// management handler's state machine asserts on that. Called on the connection's loop only.
struct StreamEventsGuard: NIOHTTP2StreamDelegate {
    let inner: NIOHTTP2ServerConnectionManagementHandler.HTTP2StreamDelegate
    let open: NIOLoopBoundBox<Set<HTTP2StreamID>>

    init(_ inner: NIOHTTP2ServerConnectionManagementHandler.HTTP2StreamDelegate, eventLoop: any EventLoop) {
        self.inner = inner
        self.open = NIOLoopBoundBox(Set(), eventLoop: eventLoop)
    }

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        self.open.value.insert(id)
        self.inner.streamCreated(id, channel: channel)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        guard self.open.value.remove(id) != nil else { return }
        self.inner.streamClosed(id, channel: channel)
    }
}
