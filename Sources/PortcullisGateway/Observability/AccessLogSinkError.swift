import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An access-log destination that could not be opened.
public struct AccessLogSinkError: Error, Sendable, CustomStringConvertible {
    public let destination: String
    public let errno: Int32

    public var description: String {
        "cannot open access log '\(self.destination)' for appending (\(String(cString: strerror(self.errno))))"
    }
}
