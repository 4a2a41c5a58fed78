import NIOCore

/// Parses HTTP/1.1 responses from an upstream connection, one per request, as bytes: the
/// head into an ``UpstreamResponseHead`` (positions, not strings), the body as slices of the
/// bytes read (no copy), de-chunked. A small state machine fed whatever the socket delivered,
/// tested at every split point (`UpstreamResponseParserTests`).
///
/// Written by hand, replacing NIO's response decoder on upstream connections, because the
/// gateway needs only the framing and a few headers of a response and passes the rest through:
/// NIO's decoder builds a `String` for every header name and value, which the gateway then
/// copies into the client's head and NIO encodes again. Strict where laxness smuggles: no
/// obs-fold, no bytes below 0x20 but HTAB in values, one `Content-Length` (or equal copies),
/// no `Content-Length` beside `Transfer-Encoding`, chunk sizes of at most 15 significant hex digits (a size line of at most 1 KiB).
struct UpstreamResponseParser {
    enum Event {
        case head(UpstreamResponseHead)
        case body(ByteBuffer)
        case end
    }

    enum ParseError: Error, Equatable {
        case headTooLarge, badStatusLine, badHeader, badFraming, badChunk, unexpectedData, truncated
    }

    static let maxHeadBytes = 64 * 1024
    static let maxTrailerBytes = 8 * 1024

    private enum State {
        /// Waiting for a response (after the previous one ended, before a request is sent).
        case idle
        case head
        /// A head without a body was returned: its end comes next.
        case endPending
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytes: Int)
        case untilClose
    }

    private var state = State.idle
    /// Bytes read and not yet parsed. Released as soon as they are used up, so an idle
    /// connection holds no buffer.
    private var buffer: ByteBuffer?
    private var headRequest = false
    /// How far a head that arrives in pieces was already searched for its end, so a backend
    /// sending it byte by byte costs linear, not quadratic, time.
    private var headScanned = 0

    /// A request was sent: its response comes next. `head`: it was a HEAD request (no body).
    mutating func expectResponse(toHEAD head: Bool) {
        self.state = .head
        self.headRequest = head
        self.headScanned = 0
    }

    /// Whether a response is being read (any bytes now belong to it).
    var inResponse: Bool {
        if case .idle = self.state { return false }
        return true
    }

    /// Adds bytes read from the connection; ``next()`` parses them.
    mutating func append(_ input: ByteBuffer) {
        guard var buffered = self.buffer, buffered.readableBytes > 0 else {
            self.buffer = input
            return
        }
        self.buffer = nil  // so `buffered` is unique and grows in place, not copied per read
        var input = input
        buffered.writeBuffer(&input)
        self.buffer = buffered
    }

    /// The next event the bytes so far complete, or nil when more bytes are needed. Each call
    /// is a whole mutation: the caller hands the event on between calls, so whatever the
    /// receiver does (even closing the connection, see ``inputClosed()``) cannot overlap it.
    mutating func next() throws(ParseError) -> Event? {
        while true {
            if case .endPending = self.state {
                self.state = .idle
                return .end
            }
            guard var buffer = self.buffer, buffer.readableBytes > 0 else {
                self.buffer = nil
                return nil
            }
            self.buffer = nil  // unique while parsing: slices below share its storage, no copy
            defer { self.buffer = buffer.readableBytes > 0 ? buffer : nil }
            switch self.state {
            case .idle:
                throw .unexpectedData
            case .endPending:
                preconditionFailure("handled above")
            case .head:
                guard let end = Self.headEnd(buffer, from: self.headScanned) else {
                    guard buffer.readableBytes <= Self.maxHeadBytes else { throw .headTooLarge }
                    self.headScanned = max(0, buffer.readableBytes - 3)
                    return nil
                }
                self.headScanned = 0
                guard end <= Self.maxHeadBytes else { throw .headTooLarge }
                let headBytes = buffer.readSlice(length: end)!
                buffer.moveReaderIndex(forwardBy: 4)  // the CRLF ending the last line and the empty line
                guard let head = try Self.parseHead(headBytes, headRequest: self.headRequest) else {
                    continue  // 1xx: informational, the real head follows
                }
                switch head.framing {
                case .none, .length(0): self.state = .endPending
                case .length(let length): self.state = .length(remaining: length)
                case .chunked: self.state = .chunkSize
                case .untilClose: self.state = .untilClose
                }
                return .head(head)
            case .length(let remaining):
                let count = min(remaining, buffer.readableBytes)
                let part = buffer.readSlice(length: count)!
                self.state = count == remaining ? .endPending : .length(remaining: remaining - count)
                return .body(part)
            case .chunkSize:
                guard let lineEnd = Self.lineEnd(buffer) else {
                    guard buffer.readableBytes <= 1024 else { throw .badChunk }
                    return nil
                }
                let size = try Self.chunkSize(buffer.readSlice(length: lineEnd)!)
                buffer.moveReaderIndex(forwardBy: 2)
                self.state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let count = min(remaining, buffer.readableBytes)
                let part = buffer.readSlice(length: count)!
                self.state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
                return .body(part)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .badChunk }
                self.state = .chunkSize
            case .trailers(let bytes):
                guard let lineEnd = Self.lineEnd(buffer) else {
                    guard bytes + buffer.readableBytes <= Self.maxTrailerBytes else { throw .badChunk }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: lineEnd + 2)
                if lineEnd == 0 {
                    self.state = .endPending
                } else {
                    // Trailers are read and dropped.
                    guard bytes + lineEnd + 2 <= Self.maxTrailerBytes else { throw .badChunk }
                    self.state = .trailers(bytes: bytes + lineEnd + 2)
                }
            case .untilClose:
                let part = buffer
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .body(part)
            }
        }
    }

    /// The connection ended: a body that runs until the close ends here (the event returned);
    /// any other response in progress is truncated.
    mutating func inputClosed() throws(ParseError) -> Event? {
        switch self.state {
        case .idle:
            return nil
        case .untilClose, .endPending:
            self.state = .idle
            return .end
        default:
            self.state = .idle
            throw .truncated
        }
    }

    // MARK: Framing

    /// Offset of the `\r\n\r\n` that ends the head, if it is in `buffer`.
    static func headEnd(_ buffer: ByteBuffer, from start: Int = 0) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            let count = bytes.count
            var i = start
            while i + 3 < count {
                if bytes[i + 3] != 0x0A {
                    i += bytes[i + 3] == 0x0D ? 1 : 4
                    continue
                }
                if bytes[i] == 0x0D && bytes[i + 1] == 0x0A && bytes[i + 2] == 0x0D { return i }
                i += 1
            }
            return nil
        }
    }

    /// Offset of the next `\r\n`.
    static func lineEnd(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var i = 0
            while i + 1 < bytes.count {
                if bytes[i] == 0x0D && bytes[i + 1] == 0x0A { return i }
                i += 1
            }
            return nil
        }
    }

    static func chunkSize(_ line: ByteBuffer) throws(ParseError) -> Int {
        try line.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(ParseError) -> Int in
            var size = 0
            var digits = 0
            var significant = 0
            for byte in bytes {
                let value: Int
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A") + 10)
                case UInt8(ascii: ";"), UInt8(ascii: " "), 0x09:
                    // A chunk extension (ignored) or whitespace before it ends the size.
                    guard digits > 0 else { throw .badChunk }
                    return size
                default:
                    throw .badChunk
                }
                digits += 1
                // Leading zeros are padding; more than 15 significant digits overflow.
                if size != 0 || value != 0 { significant += 1 }
                guard significant <= 15 else { throw .badChunk }
                size = size << 4 | value
            }
            guard digits > 0 else { throw .badChunk }
            return size
        }
    }
}
