import NIOCore

/// Read-only access to the members a ``JSONScanner`` reported, over the same bytes. Separate from
/// the scanner so visitors can inspect members while the scanner is still mutating.
public struct JSONView {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Compares a member's key with an ASCII name, decoding escapes when the key has any
    /// (`"mod\u0065l"` is `model` to every JSON decoder a backend may use).
    @inline(__always)
    public func key(_ member: JSONScanner.Member, equals name: StaticString) -> Bool {
        self.key(member.keyRange, hasEscapes: member.keyHasEscapes, equals: name)
    }

    /// Compares the key whose contents are at `range` with an ASCII name (escapes decoded).
    /// Inlined, and the name read through its pointer, not a closure: the request's inspection
    /// makes a few dozen of these comparisons per body.
    @inline(__always)
    public func key(_ range: Range<Int>, hasEscapes: Bool, equals name: StaticString) -> Bool {
        if !hasEscapes {
            guard range.count == name.utf8CodeUnitCount else { return false }
            return Self.same(UnsafeRawBufferPointer(rebasing: self.bytes[range]), name)
        }
        return Self.decodedEquals(UnsafeRawBufferPointer(rebasing: self.bytes[range]), name)
    }

    /// `bytes` (of `text`'s length) are `text`'s bytes.
    @inline(__always)
    static func same(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard text.hasPointerRepresentation else { return text.withUTF8Buffer { memcmpEqual(UnsafeRawBufferPointer($0), bytes) } }
        return memcmpEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), bytes)
    }

    /// The JSON string contents `bytes`, escapes decoded, are `text`.
    static func decodedEquals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard let decoded = JSONString.decode(bytes) else { return false }
        return text.withUTF8Buffer { decoded.utf8.elementsEqual($0) }
    }

    /// Whether a member's key (escapes decoded) is exactly `name`.
    public func key(_ member: JSONScanner.Member, equalsText name: String) -> Bool {
        let slice = UnsafeRawBufferPointer(rebasing: self.bytes[member.keyRange])
        if !member.keyHasEscapes {
            guard slice.count == name.utf8.count else { return false }
            return name.utf8.elementsEqual(slice)
        }
        guard let decoded = JSONString.decode(slice) else { return false }
        return decoded == name
    }

    /// Whether a string-valued member is exactly the ASCII `text` (escapes decoded).
    public func stringEquals(_ member: JSONScanner.Member, _ text: StaticString) -> Bool {
        member.kind == .string && self.string(at: member.valueRange, equals: text)
    }

    /// Whether the string token at `token` (quotes included) is exactly `text` (escapes decoded).
    /// `text` has no backslash: raw bytes equal to it are the string itself. Only a string of
    /// another length is looked through for an escape (which could make it decode to `text`).
    @inline(__always)
    public func string(at token: Range<Int>, equals text: StaticString) -> Bool {
        assert(text.withUTF8Buffer { !$0.contains(UInt8(ascii: "\\")) }, "a text compared with a JSON string has no backslash")
        let inner = UnsafeRawBufferPointer(rebasing: self.bytes[(token.lowerBound + 1)..<(token.upperBound - 1)])
        if inner.count == text.utf8CodeUnitCount, Self.same(inner, text) { return true }
        // Escaped, a string is longer than what it decodes to.
        guard inner.count > text.utf8CodeUnitCount, inner.contains(UInt8(ascii: "\\")) else { return false }
        return Self.decodedEquals(inner, text)
    }

    /// The decoded key of a member.
    public func keyString(_ member: JSONScanner.Member) -> String {
        JSONString.decode(UnsafeRawBufferPointer(rebasing: self.bytes[member.keyRange])) ?? ""
    }

    /// The decoded contents of a string-valued member.
    public func stringValue(_ member: JSONScanner.Member) -> String? {
        guard member.kind == .string else { return nil }
        let inner = (member.valueRange.lowerBound + 1)..<(member.valueRange.upperBound - 1)
        return JSONString.decode(UnsafeRawBufferPointer(rebasing: self.bytes[inner]))
    }

    /// The value of a member as a whole number (``WholeNumber``): `16.0` and `1e2` count.
    public func wholeNumber(_ member: JSONScanner.Member) -> WholeNumber {
        guard member.kind == .number else { return .notWhole }
        return WholeNumber(token: UnsafeRawBufferPointer(rebasing: self.bytes[member.valueRange]))
    }

    /// The value of a number-valued member as an integer, when it is a plain integer that fits.
    public func integerValue(_ member: JSONScanner.Member) -> Int? {
        guard member.kind == .number else { return nil }
        var value = 0
        var negative = false
        var i = member.valueRange.lowerBound
        if self.bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        while i < member.valueRange.upperBound {
            let byte = self.bytes[i]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }
}
