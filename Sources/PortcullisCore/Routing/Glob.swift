/// A model-name pattern: `*` matches any run of characters (including none), `?` one byte;
/// everything else matches itself. Compiled once when the config is compiled.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]
    public let isLiteral: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
        self.isLiteral = !self.bytes.contains(UInt8(ascii: "*")) && !self.bytes.contains(UInt8(ascii: "?"))
    }

    public var description: String { self.pattern }

    public func matches(_ value: String) -> Bool {
        if self.isLiteral { return ExactName.same(value, self.pattern) }
        var value = value
        return value.withUTF8 { Self.match(self.bytes, $0) }
    }

    /// Iterative wildcard matching with single-star backtracking: linear in practice and never
    /// exponential, whatever the pattern.
    private static func match(_ pattern: [UInt8], _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var p = 0
        var t = 0
        var starP = -1
        var starT = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
                starP = p
                starT = t
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starT += 1
                t = starT
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}
