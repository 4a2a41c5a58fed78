import NIOCore

/// Reads RESP2 values from bytes as they arrive: pure, so it is tested without a socket.
///
/// A value is parsed only once all its bytes are there (``parse(_:)`` returns nil and moves
/// nothing until then). A reply that is not RESP, nests deeper than ``maxDepth``, or announces
/// more than ``maxBulkBytes`` or ``maxElements`` is a protocol error: the connection is
/// dropped, never trusted again. The limiter's replies are a few short integer arrays (and its
/// handshake's script digests), so the bounds are far above anything it sees, and the
/// decoder's buffer is capped at 1 MiB.
public struct RESPParser: Sendable {
    public static let maxBulkBytes = 512 * 1024
    public static let maxElements = 1 << 16
    public static let maxDepth = 8
    /// A simple line (`+OK`, `-ERR …`, `:42`) longer than this is not RESP a server sends.
    public static let maxLineBytes = 64 * 1024

    public struct ProtocolError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init() {}

    /// Parses one whole value from the front of `buffer`, moving its reader index past it, or
    /// returns nil (the buffer untouched) when the value is not complete yet.
    public func parse(_ buffer: inout ByteBuffer) throws(ProtocolError) -> RESPValue? {
        var copy = buffer
        guard let value = try Self.value(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private static func value(_ buffer: inout ByteBuffer, depth: Int) throws(ProtocolError) -> RESPValue? {
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = try Self.line(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let number = Int64(line) else { throw ProtocolError(description: "integer reply is not a number") }
            return .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1, length <= Self.maxBulkBytes else {
                throw ProtocolError(description: "bad bulk string length")
            }
            if length == -1 { return .bulkString(nil) }
            guard buffer.readableBytes >= length + 2 else { return nil }
            let bytes = buffer.readSlice(length: length)!
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw ProtocolError(description: "bulk string not ended by CRLF") }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1, count <= Self.maxElements else {
                throw ProtocolError(description: "bad array length")
            }
            if count == -1 { return .array(nil) }
            guard depth < Self.maxDepth else { throw ProtocolError(description: "arrays nested too deep") }
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(count, 64))
            for _ in 0..<count {
                guard let element = try Self.value(&buffer, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw ProtocolError(description: "unknown RESP type byte \(type)")
        }
    }

    /// The text up to the next CRLF (consumed), or nil when it has not all arrived.
    private static func line(_ buffer: inout ByteBuffer) throws(ProtocolError) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > Self.maxLineBytes { throw ProtocolError(description: "line too long") }
            return nil
        }
        let length = cr - view.startIndex
        if length > Self.maxLineBytes { throw ProtocolError(description: "line too long") }
        guard buffer.readableBytes >= length + 2 else { return nil }
        let text = buffer.readString(length: length)!
        guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw ProtocolError(description: "CR not followed by LF") }
        return text
    }
}
