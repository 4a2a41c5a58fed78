import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `open(2)` and `write(2)` under names the sink's own methods do not shadow.
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// Where access-log lines go: a file descriptor written with one `write(2)` per batch, under
/// a lock so batches from different loops never interleave mid-line. The destination can be
/// changed while running (a reload): the new file is opened first, and a destination that
/// cannot be opened is refused, so logging never silently stops.
public final class AccessLogSink: Sendable {
    private struct Target {
        var destination: String
        var fd: Int32
        var ownsFD: Bool
    }

    private let target: NIOLockedValueBox<Target>

    /// Opens `destination`: `stdout`, `stderr`, `off`, or a file path (appended to).
    public init(destination: String) throws(AccessLogSinkError) {
        self.target = NIOLockedValueBox(try Self.open(destination))
    }

    deinit {
        let target = self.target.withLockedValue { $0 }
        if target.ownsFD { close(target.fd) }
    }

    public var destination: String { self.target.withLockedValue { $0.destination } }

    public var isEnabled: Bool { self.target.withLockedValue { $0.fd >= 0 } }

    /// Switches to `destination` (opened before the old one is closed). Throws, keeping the
    /// old destination, when it cannot be opened.
    public func reopen(_ destination: String) throws(AccessLogSinkError) {
        let next = try Self.open(destination)
        let previous = self.target.withLockedValue { target -> Target in
            let previous = target
            target = next
            return previous
        }
        if previous.ownsFD { close(previous.fd) }
    }

    private static func open(_ destination: String) throws(AccessLogSinkError) -> Target {
        switch destination {
        case "off": return Target(destination: destination, fd: -1, ownsFD: false)
        case "stdout": return Target(destination: destination, fd: 1, ownsFD: false)
        case "stderr": return Target(destination: destination, fd: 2, ownsFD: false)
        default:
            let fd = systemOpen(destination, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw AccessLogSinkError(destination: destination, errno: errno) }
            return Target(destination: destination, fd: fd, ownsFD: true)
        }
    }

    func write(_ buffer: ByteBuffer) {
        self.target.withLockedValue { target in
            guard target.fd >= 0 else { return }
            buffer.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = systemWrite(target.fd, bytes.baseAddress! + offset, bytes.count - offset)
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
