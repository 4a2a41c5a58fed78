import NIOConcurrencyHelpers
import NIOCore
import PortcullisCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where access-log lines go: a file descriptor written with one `write(2)` per batch, under
/// a lock so batches from different loops never interleave mid-line.
public final class AccessLogSink: Sendable {
    private let fd: Int32
    private let ownsFD: Bool
    private let lock = NIOLock()
    public let isEnabled: Bool

    /// `stdout`, `stderr`, `off`, or a file path (appended to).
    public init(destination: String) {
        switch destination {
        case "off":
            self.fd = -1
            self.ownsFD = false
            self.isEnabled = false
        case "stdout":
            self.fd = 1
            self.ownsFD = false
            self.isEnabled = true
        case "stderr":
            self.fd = 2
            self.ownsFD = false
            self.isEnabled = true
        default:
            let fd = open(destination, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            self.fd = fd
            self.ownsFD = fd >= 0
            self.isEnabled = fd >= 0
        }
    }

    deinit {
        if self.ownsFD { close(self.fd) }
    }

    func write(_ buffer: ByteBuffer) {
        guard self.isEnabled else { return }
        self.lock.withLock {
            buffer.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = Glibc.write(self.fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n <= 0 {
                        if n < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }
}

/// One loop's access-log buffer: lines are appended on the request path (no lock, no syscall)
/// and written out in batches every 100 ms or at 32 KiB.
final class AccessLogWriter {
    private let sink: AccessLogSink
    private var buffer = ByteBuffer()
    private var flushScheduled = false

    init(sink: AccessLogSink) {
        self.sink = sink
        self.buffer.reserveCapacity(64 * 1024)
    }

    var isEnabled: Bool { self.sink.isEnabled }

    func record(_ exchange: Exchange, eventLoop: any EventLoop) {
        guard self.sink.isEnabled else { return }
        AccessLogLine.write(exchange, into: &self.buffer)
        if self.buffer.readableBytes >= 32 * 1024 {
            self.flush()
        } else if !self.flushScheduled {
            self.flushScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
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

/// The access-log line: one JSON object per request. Never contains a header value, a token,
/// a key, a query string or any body text; the model name is the client's and is escaped.
enum AccessLogLine {
    static func write(_ exchange: Exchange, into buffer: inout ByteBuffer) {
        let now = NIODeadline.now()
        buffer.writeStaticString("{\"ts\":")
        buffer.writeDecimal(Int(exchange.receivedAtWall))
        buffer.writeStaticString(",\"id\":")
        JSONString.writeQuoted(exchange.requestID, into: &buffer)
        buffer.writeStaticString(",\"method\":")
        JSONString.writeQuoted(exchange.head.method.rawValue, into: &buffer)
        buffer.writeStaticString(",\"path\":")
        JSONString.writeQuoted(exchange.target.path, into: &buffer)
        buffer.writeStaticString(",\"status\":")
        buffer.writeDecimal(exchange.status)
        if let refusal = exchange.refusal {
            buffer.writeStaticString(",\"reason\":\"")
            buffer.writeString(refusal.rawValue)
            buffer.writeStaticString("\"")
        }
        if let abort = exchange.abortReason {
            buffer.writeStaticString(",\"abort\":")
            JSONString.writeQuoted(abort, into: &buffer)
        }
        if let identity = exchange.identity {
            buffer.writeStaticString(",\"tenant\":")
            JSONString.writeQuoted(identity.tenant, into: &buffer)
            buffer.writeStaticString(",\"auth\":\"")
            buffer.writeString(identity.method.rawValue)
            buffer.writeStaticString("\",\"credential\":")
            JSONString.writeQuoted(identity.credentialName, into: &buffer)
        }
        if let failure = exchange.authFailure {
            buffer.writeStaticString(",\"auth_failure\":")
            JSONString.writeQuoted(failure, into: &buffer)
        }
        if let model = exchange.request?.model {
            buffer.writeStaticString(",\"model\":")
            JSONString.writeQuoted(model.count > 128 ? String(model.prefix(128)) : model, into: &buffer)
        }
        if let route = exchange.route {
            buffer.writeStaticString(",\"route\":")
            JSONString.writeQuoted(route.name, into: &buffer)
            buffer.writeStaticString(",\"backend\":")
            JSONString.writeQuoted(route.backend.name, into: &buffer)
        }
        if let endpoint = exchange.upstreamEndpoint {
            buffer.writeStaticString(",\"upstream\":")
            JSONString.writeQuoted(endpoint.key, into: &buffer)
        }
        if let usage = exchange.usage {
            buffer.writeStaticString(",\"prompt_tokens\":")
            buffer.writeDecimal(usage.promptTokens)
            buffer.writeStaticString(",\"completion_tokens\":")
            buffer.writeDecimal(usage.completionTokens)
            buffer.writeStaticString(",\"total_tokens\":")
            buffer.writeDecimal(usage.totalTokens)
        }
        buffer.writeStaticString(",\"bytes\":")
        buffer.writeDecimal(exchange.responseBytes)
        buffer.writeStaticString(",\"duration_ms\":")
        buffer.writeMillis(nanoseconds: (now - exchange.receivedAt).nanoseconds)
        if let forwardedAt = exchange.forwardedAt {
            buffer.writeStaticString(",\"overhead_ms\":")
            buffer.writeMillis(nanoseconds: (forwardedAt - exchange.receivedAt).nanoseconds)
        }
        buffer.writeStaticString("}\n")
    }
}

/// Renders a duration as milliseconds with three decimals without Foundation formatting.
enum Millis {
    static func string(nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds / 1000)
        let whole = micros / 1000
        let fraction = micros % 1000
        let pad = fraction < 10 ? "00" : (fraction < 100 ? "0" : "")
        return "\(whole).\(pad)\(fraction)"
    }
}
