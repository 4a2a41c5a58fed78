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
/// no `Content-Length` beside `Transfer-Encoding`, chunk sizes of at most 15 significant hex
/// digits (a size line of at most 1 KiB); the grammar is ``HTTP1Syntax``'s, shared with the
/// client request parser, and bodies are read by ``HTTP1BodyReader``.
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

    private enum State {
        /// Waiting for a response (after the previous one ended, before a request is sent).
        case idle
        case head
        /// A head without a body was returned: its end comes next.
        case endPending
        case body(HTTP1BodyReader)
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
        HTTP1Syntax.accumulate(input, into: &self.buffer)
    }

    /// The next event the bytes so far complete, or nil when more bytes are needed. Each call
    /// is a whole mutation: the caller hands the event on between calls, so whatever the
    /// receiver does (even closing the connection, see ``inputClosed()``) cannot overlap it.
    mutating func next() throws(ParseError) -> Event? {
        while true {
            switch self.state {
            case .endPending:
                self.state = .idle
                return .end
            case .body(let reader) where reader.isComplete:
                self.state = .idle
                return .end
            default:
                break
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
                guard let end = HTTP1Syntax.headEnd(buffer, from: self.headScanned) else {
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
                case .length(let length): self.state = .body(HTTP1BodyReader(.length(length)))
                case .chunked: self.state = .body(HTTP1BodyReader(.chunked))
                case .untilClose: self.state = .untilClose
                }
                return .head(head)
            case .body(var reader):
                let event: HTTP1BodyReader.Event?
                do {
                    event = try reader.next(from: &buffer)
                } catch {
                    throw .badChunk
                }
                switch event {
                case .part(let part):
                    self.state = .body(reader)
                    return .body(part)
                case .end:
                    self.state = .idle
                    return .end
                case nil:
                    self.state = .body(reader)
                    return nil
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
        case .body(let reader) where reader.isComplete:
            self.state = .idle
            return .end
        default:
            self.state = .idle
            throw .truncated
        }
    }
}
