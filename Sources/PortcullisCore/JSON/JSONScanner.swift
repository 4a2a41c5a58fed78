/// A strict, allocation-free JSON validator that reports the members of a top-level object.
///
/// Why by hand: the gateway must (a) reject malformed JSON, (b) find the handful of keys it acts
/// on (`model`, `stream`, …) with their byte ranges so it can splice a rewritten model in place,
/// and (c) notice duplicated keys, which Foundation's decoders silently resolve (a backend might
/// read the other copy). One pass over the bytes with no allocation does all three; decoding the
/// whole body into a dictionary and encoding it again would cost an order of magnitude more.
///
/// Strictness: RFC 8259 grammar, UTF-8 validated inside strings (no overlongs, no surrogates),
/// escapes validated, nesting bounded by `maxDepth` so hostile input cannot exhaust the stack.
public struct JSONScanner {
    public enum ValueKind: Equatable, Sendable {
        case object, array, string, number, null
        case bool(Bool)
    }

    /// One member of an object: byte ranges are offsets into the scanned buffer.
    public struct Member: Equatable, Sendable {
        /// Key contents, without the quotes.
        public var keyRange: Range<Int>
        public var keyHasEscapes: Bool
        /// The whole value token (for strings: including the quotes).
        public var valueRange: Range<Int>
        public var kind: ValueKind
    }

    public struct ScanError: Error, Equatable, Sendable {
        public var offset: Int
        public var message: String
    }

    public let bytes: UnsafeRawBufferPointer
    public private(set) var index: Int = 0
    public let maxDepth: Int

    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    // MARK: Entry points

    /// Validates the whole input as one JSON document whose top level is an object and calls
    /// `visit` for each of its members in order. Returns false when the top level is not an object
    /// (the document is still fully validated).
    public mutating func scanTopLevelObject(
        _ visit: (Member) throws(ScanError) -> Void
    ) throws(ScanError) -> Bool {
        let isObject = try self.startDocument()
        if isObject {
            try self.scanObject(depth: 1, visit)
        } else {
            _ = try self.scanValue(depth: 1)
        }
        try self.endDocument()
        return isObject
    }

    /// Validates the whole input as one JSON array, in one pass: `member` is called with each
    /// member of each object element as it is scanned (with the element's position), then
    /// `element` with each element's position, value range and kind. Returns false when the
    /// input is not an array.
    public mutating func scanTopLevelArray(
        member: (Int, Member) throws(ScanError) -> Void = { _, _ in },
        element: (Int, Range<Int>, ValueKind) throws(ScanError) -> Void
    ) throws(ScanError) -> Bool {
        self.skipWhitespace()
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "[") else {
            _ = try self.validateDocument()
            return false
        }
        try self.scanArray(depth: 1, member: member, element: element)
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the JSON value") }
        return true
    }

    /// Validates the whole input as one JSON value.
    public mutating func validateDocument() throws(ScanError) -> ValueKind {
        self.skipWhitespace()
        let kind = try self.scanValue(depth: 1)
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the JSON value") }
        return kind
    }

    // MARK: Grammar

    private mutating func scanObject(depth: Int, _ visit: (Member) throws(ScanError) -> Void) throws(ScanError) {
        var object = try self.openObject(depth: depth)
        while let key = try self.nextKey(in: &object) {
            let valueStart = self.index
            let kind = try self.scanValue(depth: depth + 1)
            try visit(Member(keyRange: key.range, keyHasEscapes: key.hasEscapes, valueRange: valueStart..<self.index, kind: kind))
        }
    }

    /// An array; `member` sees the members of object elements as they are scanned, `element`
    /// each element once scanned (the grammar's own calls pass neither).
    private mutating func scanArray(
        depth: Int, member: (Int, Member) throws(ScanError) -> Void = { _, _ in },
        element: (Int, Range<Int>, ValueKind) throws(ScanError) -> Void = { _, _, _ in }
    ) throws(ScanError) {
        var array = try self.openArray(depth: depth)
        var position = 0
        while try self.nextElement(in: &array) {
            let start = self.index
            let kind: ValueKind
            if self.peek() == UInt8(ascii: "{") {
                let at = position
                try self.scanObject(depth: depth + 1) { (found: Member) throws(ScanError) in try member(at, found) }
                kind = .object
            } else {
                kind = try self.scanValue(depth: depth + 1)
            }
            try element(position, start..<self.index, kind)
            position += 1
        }
    }

    // MARK: Reading piece by piece
    //
    // For a caller that looks inside some values while the one scan goes on (the inspection
    // checks each chat message as `messages` is scanned, instead of scanning it again): it
    // opens a container, takes its keys or elements one at a time, and either scans each value
    // with ``scanValue(depth:)`` or opens it in turn. The grammar above is written on these, so
    // there is one grammar. Depth counts as in the grammar: the top-level value is at depth 1,
    // a container's values one deeper than the container.

    /// An object or array being read: whether its first entry is still to come. (The caller
    /// passes depths itself, as the grammar does.)
    public struct Container {
        var started = false
    }

    /// The byte the scan is at, after any whitespace (nil at the end of the input).
    public mutating func nextByte() -> UInt8? {
        self.skipWhitespace()
        return self.peek()
    }

    /// Opens the object whose `{` is at the current position (whitespace skipped).
    public mutating func openObject(depth: Int) throws(ScanError) -> Container {
        guard self.peek() == UInt8(ascii: "{") else { throw self.error("expected an object") }
        guard depth <= self.maxDepth else { throw self.error("nesting deeper than \(self.maxDepth) levels") }
        self.index += 1
        return Container()
    }

    /// The next key of `object` (its contents' range, and whether it has escapes), with the scan
    /// left at its value; nil once the object's `}` is consumed.
    public mutating func nextKey(in object: inout Container) throws(ScanError) -> (range: Range<Int>, hasEscapes: Bool)? {
        self.skipWhitespace()
        if !object.started {
            object.started = true
            if self.peek() == UInt8(ascii: "}") {
                self.index += 1
                return nil
            }
        } else {
            switch self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
                self.skipWhitespace()
            case UInt8(ascii: "}"):
                self.index += 1
                return nil
            default:
                throw self.error("expected ',' or '}' in an object")
            }
        }
        guard self.peek() == UInt8(ascii: "\"") else { throw self.error("expected a string key") }
        let keyStart = self.index + 1
        let hasEscapes = try self.scanString()
        let keyRange = keyStart..<(self.index - 1)
        self.skipWhitespace()
        guard self.peek() == UInt8(ascii: ":") else { throw self.error("expected ':' after a key") }
        self.index += 1
        self.skipWhitespace()
        return (keyRange, hasEscapes)
    }

    /// Opens the array whose `[` is at the current position (whitespace skipped).
    public mutating func openArray(depth: Int) throws(ScanError) -> Container {
        guard self.peek() == UInt8(ascii: "[") else { throw self.error("expected an array") }
        guard depth <= self.maxDepth else { throw self.error("nesting deeper than \(self.maxDepth) levels") }
        self.index += 1
        return Container()
    }

    /// Whether `array` has another element (the scan is then at it), or ended (its `]` consumed).
    public mutating func nextElement(in array: inout Container) throws(ScanError) -> Bool {
        self.skipWhitespace()
        if !array.started {
            array.started = true
            if self.peek() == UInt8(ascii: "]") {
                self.index += 1
                return false
            }
            return true
        }
        switch self.peek() {
        case UInt8(ascii: ","):
            self.index += 1
            self.skipWhitespace()
            return true
        case UInt8(ascii: "]"):
            self.index += 1
            return false
        default:
            throw self.error("expected ',' or ']' in an array")
        }
    }

    /// Opens the top-level value: whitespace skipped, an empty input refused. Returns whether it
    /// is an object (then open it with ``openObject(depth:)`` at depth 1, or scan it).
    public mutating func startDocument() throws(ScanError) -> Bool {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw self.error("empty body") }
        return self.bytes[self.index] == UInt8(ascii: "{")
    }

    /// Ends the document: nothing but whitespace may follow the top-level value.
    public mutating func endDocument() throws(ScanError) {
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the JSON value") }
    }

    /// Scans the value at the current position (whitespace skipped), at `depth`.
    public mutating func scanValue(depth: Int) throws(ScanError) -> ValueKind {
        guard let byte = self.peek() else { throw self.error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            try self.scanObject(depth: depth) { (_: Member) throws(ScanError) in }
            return .object
        case UInt8(ascii: "["):
            try self.scanArray(depth: depth)
            return .array
        case UInt8(ascii: "\""):
            _ = try self.scanString()
            return .string
        case UInt8(ascii: "t"):
            try self.scanLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.scanLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.scanLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try self.scanNumber()
            return .number
        default:
            throw self.error("unexpected character")
        }
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(ScanError) {
        let count = literal.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw self.error("unexpected end of input") }
        let slice = UnsafeRawBufferPointer(rebasing: self.bytes[self.index..<(self.index + count)])
        guard literal.withUTF8Buffer({ memcmpEqual(UnsafeRawBufferPointer($0), slice) }) else {
            throw self.error("invalid literal")
        }
        self.index += count
    }

    private mutating func scanNumber() throws(ScanError) {
        if self.peek() == UInt8(ascii: "-") { self.index += 1 }
        guard let first = self.peek(), isDigit(first) else { throw self.error("invalid number") }
        self.index += 1
        if first != UInt8(ascii: "0") {
            while let b = self.peek(), isDigit(b) { self.index += 1 }
        }
        if self.peek() == UInt8(ascii: ".") {
            self.index += 1
            guard let b = self.peek(), isDigit(b) else { throw self.error("invalid number") }
            while let b = self.peek(), isDigit(b) { self.index += 1 }
        }
        if let e = self.peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            self.index += 1
            if let s = self.peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { self.index += 1 }
            guard let b = self.peek(), isDigit(b) else { throw self.error("invalid number") }
            while let b = self.peek(), isDigit(b) { self.index += 1 }
        }
    }

    /// Scans a string token starting at the opening quote; leaves `index` after the closing
    /// quote. Returns whether it contained escapes.
    private mutating func scanString() throws(ScanError) -> Bool {
        self.index += 1  // opening quote
        var hasEscapes = false
        let bytes = self.bytes
        var i = self.index
        let end = bytes.count
        while i < end {
            // Eight plain bytes at a time (printable ASCII, no quote, no backslash): most of a
            // prompt. A word with another byte moves straight to the first such byte (its mask's
            // lowest bit is exact), which the checks below take: plain bytes are never looked
            // at one by one, except in the last seven of the body.
            while i + 8 <= end {
                let special = Self.specialBytes(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                if special != 0 {
                    i += special.trailingZeroBitCount >> 3
                    break
                }
                i += 8
            }
            guard i < end else { break }
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") {
                self.index = i + 1
                return hasEscapes
            } else if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                guard i + 1 < end else { break }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard let unit = JSONString.hex4(bytes, at: i + 2) else {
                        self.index = i
                        throw self.error("invalid \\u escape")
                    }
                    i += 6
                    // Surrogates only as a high-low pair: a lone one names no character (RFC 8259
                    // §8.2), and decoders disagree on what to make of it.
                    if unit >= 0xDC00 && unit <= 0xDFFF {
                        self.index = i - 6
                        throw self.error("lone surrogate \\u escape")
                    }
                    if unit >= 0xD800 && unit <= 0xDBFF {
                        guard i + 1 < end, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                            let low = JSONString.hex4(bytes, at: i + 2), low >= 0xDC00 && low <= 0xDFFF
                        else {
                            self.index = i - 6
                            throw self.error("lone surrogate \\u escape")
                        }
                        i += 6
                    }
                default:
                    self.index = i
                    throw self.error("invalid escape")
                }
            } else if byte < 0x20 {
                self.index = i
                throw self.error("control character in a string")
            } else if byte < 0x80 {
                i += 1
            } else {
                guard let length = utf8SequenceLength(bytes, at: i) else {
                    self.index = i
                    throw self.error("invalid UTF-8")
                }
                i += length
            }
        }
        self.index = end
        throw self.error("unterminated string")
    }

    // MARK: Helpers

    /// Whether any byte of `word` is a quote, a backslash, below 0x20 or above 0x7F (SWAR: the
    /// classic "has a zero byte" and "has a byte less than n" tests, on all eight at once).
    @inline(__always)
    static func hasSpecialByte(_ word: UInt64) -> Bool {
        Self.specialBytes(word) != 0
    }

    /// The high bit of each byte of `word` (little-endian) that ``hasSpecialByte(_:)`` looks
    /// for. A byte above a special one may be flagged too (a borrow carries into it), but no
    /// byte below the first special one is: the lowest set bit names the first special byte.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote & highs
        let hasBackslash = (backslash &- ones) & ~backslash & highs
        let hasControl = (word &- (ones &* 0x20)) & ~word & highs
        return hasQuote | hasBackslash | hasControl | (word & highs)
    }

    @inline(__always)
    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    private func error(_ message: String) -> ScanError {
        ScanError(offset: self.index, message: message)
    }
}


@inline(__always)
private func isDigit(_ byte: UInt8) -> Bool {
    byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
}
