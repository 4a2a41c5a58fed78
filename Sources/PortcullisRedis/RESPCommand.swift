import NIOCore

/// One command, encoded as RESP: an array of bulk strings. Arguments are written as they are
/// appended; ``encoded`` puts the element count in front (Redis refuses a count padded with
/// zeros or spaces, so it cannot be written into a slot reserved up front).
public struct RESPCommand: Sendable {
    private var body: ByteBuffer
    public private(set) var count = 0

    /// A command named `name`; add its arguments with ``append(_:)``.
    public init(_ name: String, allocator: ByteBufferAllocator = ByteBufferAllocator(), capacity: Int = 128) {
        self.body = allocator.buffer(capacity: capacity)
        self.append(name)
    }

    public mutating func append(_ argument: String) {
        self.body.writeStaticString("$")
        self.body.writeString(String(argument.utf8.count))
        self.body.writeStaticString("\r\n")
        self.body.writeString(argument)
        self.body.writeStaticString("\r\n")
        self.count += 1
    }

    public mutating func append(_ argument: Int64) { self.append(String(argument)) }
    public mutating func append(_ argument: Int) { self.append(String(argument)) }

    /// The bytes to send.
    public var encoded: ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(self.body.readableBytes + 12)
        out.writeStaticString("*")
        out.writeString(String(self.count))
        out.writeStaticString("\r\n")
        out.writeImmutableBuffer(self.body)
        return out
    }
}
