/// Estimates the tokens a backend generated from the text it sent, for a response that reports
/// no `usage` (or a stream that broke before its usage chunk): the gateway then settles quotas
/// with this count, never with zero and never blindly with the whole reservation.
///
/// It counts the bytes of every string value whose key is `content`, `text`,
/// `reasoning_content`, `reasoning`, `refusal` or `arguments` (a tool call's), at any depth, in
/// JSON fed in pieces (a whole body, or an SSE stream's `data` lines), as it passes through.
/// Each such string of n bytes (escapes counted as written) counts `⌈n/3⌉` tokens, at least one
/// when not empty: the same conservative rule as ``PromptEstimate`` (English averages about 4
/// bytes a token, and a streamed fragment is usually one token).
public struct GeneratedTextCounter: Sendable {
    private static let countedKeys: [[UInt8]] = ["content", "text", "reasoning_content", "reasoning", "refusal", "arguments"].map {
        Array($0.utf8)
    }
    private static let longestKey = 17

    private enum State: Sendable {
        /// Outside any string.
        case outside
        /// Inside a string that may be a key (its first bytes are kept to compare).
        case candidate
        /// After a string that was a counted key, waiting for `:` then the value's `"`.
        case afterKey(colon: Bool)
        /// Inside a counted string value (its bytes so far).
        case counting(Int)
    }

    private var state = State.outside
    private var escaped = false
    private var key: [UInt8] = []

    /// Tokens counted so far.
    public private(set) var tokens = 0
    /// Non-empty strings counted so far: a lower bound of the tokens generated (each streamed
    /// fragment is at least one token), which a hard ceiling judges by, so it never cuts a
    /// stream that stays within its quota.
    public private(set) var fragments = 0

    public init() {
        self.key.reserveCapacity(Self.longestKey)
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            switch self.state {
            case .outside:
                if byte == UInt8(ascii: "\"") {
                    self.key.removeAll(keepingCapacity: true)
                    self.state = .candidate
                }
            case .candidate:
                if self.escaped {
                    self.escaped = false
                    self.key.append(byte)
                } else if byte == UInt8(ascii: "\\") {
                    self.escaped = true
                    self.key.append(byte)
                } else if byte == UInt8(ascii: "\"") {
                    self.state = Self.countedKeys.contains(self.key) ? .afterKey(colon: false) : .outside
                } else if self.key.count <= Self.longestKey {
                    self.key.append(byte)
                }
            case .afterKey(let colon):
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: ":") where !colon: self.state = .afterKey(colon: true)
                case UInt8(ascii: "\"") where colon: self.state = .counting(0)
                case UInt8(ascii: "\""): self.state = .candidate  // a string after a string: not a key
                default: self.state = .outside  // a value that is not a string (null, an object…), or not a key
                }
            case .counting(let count):
                if self.escaped {
                    self.escaped = false
                    self.state = .counting(count + 1)
                } else if byte == UInt8(ascii: "\\") {
                    self.escaped = true
                    self.state = .counting(count + 1)
                } else if byte == UInt8(ascii: "\"") {
                    if count > 0 {
                        self.tokens = Self.plus(self.tokens, (count + 2) / 3)
                        self.fragments = Self.plus(self.fragments, 1)
                    }
                    self.state = .outside
                } else {
                    self.state = .counting(count + 1)
                }
            }
        }
    }

    /// The tokens of a string cut off by the end of a broken stream are counted too.
    public var tokensIncludingOpenString: Int {
        if case .counting(let count) = self.state, count > 0 { return Self.plus(self.tokens, (count + 2) / 3) }
        return self.tokens
    }

    private static func plus(_ a: Int, _ b: Int) -> Int { min(a &+ b, Usage.maxCount) }
}
