import NIOCore

/// An HTTP/1.1 message body as its bytes arrive, for both parsers: by length or chunked
/// (trailers read and dropped), each part a slice of the bytes read (no copy).
struct HTTP1BodyReader {
    enum Framing: Equatable {
        case length(Int)
        case chunked
    }

    enum Event {
        case part(ByteBuffer)
        case end
    }

    static let maxChunkLineBytes = 1024
    static let maxTrailerBytes = 8 * 1024

    /// `scanned`: how far the current line was already searched for its end (a line arriving
    /// byte by byte costs linear time).
    private enum State {
        case length(remaining: Int)
        case chunkSize(scanned: Int)
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytes: Int, scanned: Int)
        /// The body is complete: `.end` comes next, without more bytes.
        case ended
    }

    private var state: State

    init(_ framing: Framing) {
        switch framing {
        case .length(let length): self.state = length > 0 ? .length(remaining: length) : .ended
        case .chunked: self.state = .chunkSize(scanned: 0)
        }
    }

    /// The body is read whole; ``next(from:)`` returns `.end` without needing bytes.
    var isComplete: Bool {
        if case .ended = self.state { return true }
        return false
    }

    /// The next part or the end that `buffer` completes (consuming what it reads), or nil when
    /// more bytes are needed.
    mutating func next(from buffer: inout ByteBuffer) throws(HTTP1Syntax.Failure) -> Event? {
        while true {
            if case .ended = self.state { return .end }
            guard buffer.readableBytes > 0 else { return nil }
            switch self.state {
            case .ended:
                return .end
            case .length(let remaining):
                let count = min(remaining, buffer.readableBytes)
                let part = buffer.readSlice(length: count)!
                self.state = count == remaining ? .ended : .length(remaining: remaining - count)
                return .part(part)
            case .chunkSize(let scanned):
                guard let lineEnd = HTTP1Syntax.lineEnd(buffer, from: scanned, limit: Self.maxChunkLineBytes) else {
                    // +1: the line's CR may be in while its LF is not.
                    guard buffer.readableBytes <= Self.maxChunkLineBytes + 1 else { throw .badChunk }
                    self.state = .chunkSize(scanned: HTTP1Syntax.lineScanResume(buffer))
                    return nil
                }
                let size = try HTTP1Syntax.chunkSize(buffer.readSlice(length: lineEnd)!)
                buffer.moveReaderIndex(forwardBy: 2)
                self.state = size == 0 ? .trailers(bytes: 0, scanned: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let count = min(remaining, buffer.readableBytes)
                let part = buffer.readSlice(length: count)!
                self.state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
                return .part(part)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .badChunk }
                self.state = .chunkSize(scanned: 0)
            case .trailers(let bytes, let scanned):
                let room = Self.maxTrailerBytes - bytes
                guard let lineEnd = HTTP1Syntax.lineEnd(buffer, from: scanned, limit: room) else {
                    guard buffer.readableBytes <= room + 1 else { throw .badChunk }
                    self.state = .trailers(bytes: bytes, scanned: HTTP1Syntax.lineScanResume(buffer))
                    return nil
                }
                if lineEnd == 0 {
                    buffer.moveReaderIndex(forwardBy: 2)
                    self.state = .ended
                } else {
                    // Trailers are read, held to the header grammar, and dropped.
                    guard bytes + lineEnd + 2 <= Self.maxTrailerBytes, HTTP1Syntax.isFieldLine(buffer.readSlice(length: lineEnd)!)
                    else { throw .badChunk }
                    buffer.moveReaderIndex(forwardBy: 2)
                    self.state = .trailers(bytes: bytes + lineEnd + 2, scanned: 0)
                }
            }
        }
    }
}
