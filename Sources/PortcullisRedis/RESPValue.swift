import NIOCore

/// One value of the Redis serialisation protocol (RESP2, which is all the limiter speaks).
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    /// A reply of the form `-ERR message`: the server refused a command (not a broken link).
    case error(String)
    case integer(Int64)
    /// nil: the null bulk string (`$-1`).
    case bulkString(ByteBuffer?)
    /// nil: the null array (`*-1`).
    case array([RESPValue]?)

    /// The value as an integer: an integer reply, or a bulk or simple string of digits.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let buffer?): Int64(String(buffer: buffer))
        case .simpleString(let text): Int64(text)
        default: nil
        }
    }

    /// The value as text: a simple or bulk string.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let buffer?): String(buffer: buffer)
        default: nil
        }
    }
}
