import NIOCore
import PortcullisCore

/// One loop's access-log buffer, and the ledger obligation that writes each exchange's line.
/// Lines are appended on the request path (no lock, no syscall) and written out in batches
/// every 100 ms or at 32 KiB.
final class AccessLogWriter: LedgerObligation {
    private let sink: AccessLogSink
    private let eventLoop: any EventLoop
    private var buffer = ByteBuffer()
    private var flushScheduled = false

    init(sink: AccessLogSink, eventLoop: any EventLoop) {
        self.sink = sink
        self.eventLoop = eventLoop
        self.buffer.reserveCapacity(64 * 1024)
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        guard self.sink.isEnabled else { return }
        AccessLogLine.write(exchange, outcome: outcome, now: exchange.loop.now(), into: &self.buffer)
        if self.buffer.readableBytes >= 32 * 1024 {
            self.flush()
        } else if !self.flushScheduled {
            self.flushScheduled = true
            self.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
                self.flushScheduled = false
                self.flush()
            }
        }
    }

    func flush() {
        guard self.buffer.readableBytes > 0 else { return }
        self.sink.write(self.buffer)
        self.buffer.clear()
    }
}
