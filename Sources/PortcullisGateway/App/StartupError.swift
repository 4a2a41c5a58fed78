import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A part of the gateway that could not start, naming what and where: the listener and its
/// address, or the file.
public enum StartupError: Error, CustomStringConvertible {
    case bind(listener: String, path: String, address: String, any Error)
    case adminBind(address: String, any Error)
    case accessLog(path: String, AccessLogSinkError)
    case mock(any Error)
    case tracing(endpoint: String, any Error)

    public var description: String {
        switch self {
        case .bind(let listener, let path, let address, let error):
            "\(path) (\(listener)): cannot listen on \(address): \(Self.describe(error))"
        case .adminBind(let address, let error):
            "admin.address: cannot listen on \(address): \(Self.describe(error))"
        case .accessLog(let path, let error):
            "\(path): \(error)"
        case .mock(let error):
            "mock: the built-in mock backend could not start: \(Self.describe(error))"
        case .tracing(let endpoint, let error):
            "tracing.endpoint: the trace exporter for \(endpoint) could not be made: \(error)"
        }
    }

    /// An OS error as its message (`Address already in use`), not NIO's call-site description.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}
