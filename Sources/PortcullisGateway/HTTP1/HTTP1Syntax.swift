import NIOCore

/// The byte-level grammar both HTTP/1.1 parsers share (``ClientRequestParser`` for what
/// clients send, ``UpstreamResponseParser`` for what backends answer): where a head and a line
/// end, header lines read strictly, `Content-Length` values and chunk sizes. One place, so the
/// two directions can never disagree on what a well-formed message is.
///
/// Strict where laxness smuggles (RFC 9112): lines end in CRLF, no obs-fold (a line starting
/// with SP or HTAB), no whitespace before a header's colon, no byte below 0x20 but HTAB and no
/// DEL in values, `Content-Length` only digits, chunk sizes of at most 15 significant hex digits.
enum HTTP1Syntax {
    enum Failure: Error, Equatable {
        case badHeader, tooManyFields, badChunk, badFraming
    }

    /// Offset of the `\r\n\r\n` that ends a head, if it is in `buffer`, searching from `start`.
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

    /// Offset of the next `\r\n`, searching from `start` (where an earlier search of the same
    /// line stopped) and no further than `limit` bytes into the line.
    static func lineEnd(_ buffer: ByteBuffer, from start: Int = 0, limit: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var i = start
            let end = min(bytes.count, limit + 2)
            while i + 1 < end {
                if bytes[i] == 0x0D && bytes[i + 1] == 0x0A { return i }
                i += 1
            }
            return nil
        }
    }

    /// Where a search for a line's end can resume once more bytes arrived.
    static func lineScanResume(_ buffer: ByteBuffer) -> Int { max(0, buffer.readableBytes - 1) }

    /// Whether a trailer line (without its CRLF) is a well-formed header field.
    static func isFieldLine(_ line: ByteBuffer) -> Bool {
        line.withUnsafeReadableBytes { bytes -> Bool in
            var i = 0
            while i < bytes.count && Self.isTokenByte(bytes[i]) { i += 1 }
            guard i > 0, i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            while i < bytes.count {
                let byte = bytes[i]
                guard byte == 0x09 || (byte >= 0x20 && byte != 0x7F) else { return false }
                i += 1
            }
            return true
        }
    }

    /// Reads the header lines of a head from `start` (which must be at the CRLF ending the
    /// first line) to the end of `bytes` (the head without its final empty line), calling
    /// `field` with each name and value (value without surrounding whitespace).
    static func scanFields(
        _ bytes: UnsafeRawBufferPointer, from start: Int, maxFields: Int,
        _ field: (_ nameStart: Int, _ nameEnd: Int, _ valueStart: Int, _ valueEnd: Int) throws(Failure) -> Void
    ) throws(Failure) {
        let count = bytes.count
        var i = start
        var fields = 0
        while i < count {
            guard i + 1 < count, bytes[i] == 0x0D, bytes[i + 1] == 0x0A else { throw .badHeader }
            i += 2
            guard fields < maxFields else { throw .tooManyFields }
            fields += 1
            let nameStart = i
            while i < count && Self.isTokenByte(bytes[i]) { i += 1 }
            // No whitespace before the colon, no obs-fold (a line starting with SP or HTAB).
            guard i > nameStart, i < count, bytes[i] == UInt8(ascii: ":") else { throw .badHeader }
            let nameEnd = i
            i += 1
            while i < count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < count && bytes[i] != 0x0D {
                let byte = bytes[i]
                guard byte == 0x09 || (byte >= 0x20 && byte != 0x7F) else { throw .badHeader }
                i += 1
                if byte != 0x20 && byte != 0x09 { valueEnd = i }
            }
            try field(nameStart, nameEnd, valueStart, valueEnd)
        }
    }

    /// Adds bytes read from a connection to what a parser still holds, growing its buffer in
    /// place (the held buffer is made unique first, so it is not copied per read).
    static func accumulate(_ input: ByteBuffer, into held: inout ByteBuffer?) {
        guard var buffered = held, buffered.readableBytes > 0 else {
            held = input
            return
        }
        held = nil
        var input = input
        buffered.writeBuffer(&input)
        held = buffered
    }

    /// Takes a `Content-Length` header into `length`: plain digits, and equal to any copy seen
    /// before (two different lengths are how bodies are smuggled).
    static func mergeContentLength(_ value: Slice<UnsafeRawBufferPointer>, into length: inout Int?) throws(Failure) {
        guard let parsed = Self.contentLength(value), length == nil || length == parsed else { throw .badFraming }
        length = parsed
    }

    /// The elements of a comma-separated header list (`Connection`, `Transfer-Encoding`),
    /// without surrounding whitespace, empty ones skipped.
    static func forEachListElement(
        _ value: Slice<UnsafeRawBufferPointer>, _ body: (Slice<UnsafeRawBufferPointer>) throws(Failure) -> Void
    ) throws(Failure) {
        for element in value.split(separator: UInt8(ascii: ",")) {
            var element = element[...]
            while let first = element.first, first == 0x20 || first == 0x09 { element = element.dropFirst() }
            while let last = element.last, last == 0x20 || last == 0x09 { element = element.dropLast() }
            if !element.isEmpty { try body(element) }
        }
    }

    /// A `Content-Length` value: 1 to 15 digits, nothing else (no list, no sign); nil if not.
    static func contentLength(_ value: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !value.isEmpty, value.count <= 15 else { return nil }
        var length = 0
        for byte in value {
            let digit = byte &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            length = length * 10 + Int(digit)
        }
        return length
    }

    /// A chunk-size line's size (a chunk extension after `;` is ignored).
    static func chunkSize(_ line: ByteBuffer) throws(Failure) -> Int {
        try line.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(Failure) -> Int in
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
                    // Whitespace, then a chunk extension (ignored), ends the size. What follows
                    // may hold no control byte (a bare CR or LF there is how chunk boundaries
                    // are made to differ between two parsers) and nothing but an extension.
                    guard digits > 0, Self.isChunkExtension(UnsafeRawBufferPointer(rebasing: bytes[(digits)...])) else {
                        throw .badChunk
                    }
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

    /// What may follow a chunk size: optional whitespace, then nothing or `;` and an extension
    /// without control bytes.
    static func isChunkExtension(_ rest: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < rest.count && (rest[i] == 0x20 || rest[i] == 0x09) { i += 1 }
        guard i < rest.count else { return true }
        guard rest[i] == UInt8(ascii: ";") else { return false }
        i += 1
        while i < rest.count {
            let byte = rest[i]
            guard byte == 0x09 || (byte >= 0x20 && byte != 0x7F) else { return false }
            i += 1
        }
        return true
    }

    /// RFC 9110 tchar.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
