#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    private static let countedKeys: [PackedKey] = ["content", "text", "reasoning_content", "reasoning", "refusal", "arguments"].map {
        var key = PackedKey()
        for byte in $0.utf8 { key.append(byte) }
        return key
    }
    private static let longestKey = 17

    /// A string's first bytes (up to 24), packed into three words: compared to the counted keys
    /// by three integer comparisons, with no array to grow.
    private struct PackedKey: Sendable, Equatable {
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        /// Bytes seen (stops growing past the longest counted key: such a string never is one).
        var length = 0

        @inline(__always)
        mutating func append(_ byte: UInt8) {
            guard self.length <= GeneratedTextCounter.longestKey else { return }
            let shift = UInt64((self.length & 7) * 8)
            switch self.length >> 3 {
            case 0: self.words.0 |= UInt64(byte) << shift
            case 1: self.words.1 |= UInt64(byte) << shift
            default: self.words.2 |= UInt64(byte) << shift
            }
            self.length += 1
        }

        static func == (a: PackedKey, b: PackedKey) -> Bool {
            a.length == b.length && a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2
        }
    }

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
    private var key = PackedKey()

    /// Tokens counted so far.
    public private(set) var tokens = 0
    /// Non-empty strings counted so far: a lower bound of the tokens generated (each streamed
    /// fragment is at least one token), which a hard ceiling judges by, so it never cuts a
    /// stream that stays within its quota.
    public private(set) var fragments = 0

    public init() {}

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    /// Feeds the next bytes. Runs of bytes that cannot change the count are skipped without
    /// the per-byte state machine: outside strings, up to the next quote (`memchr`); inside a
    /// counted value or a string too long to be a counted key, up to the next quote or backslash.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var i = 0
        while i < count {
            switch self.state {
            case .outside:
                guard let found = memchr(base + i, Int32(Self.quote), count - i) else { return }
                i = base.distance(to: UnsafeRawPointer(found)) + 1
                self.key = PackedKey()
                self.state = .candidate
            case .candidate:
                if self.escaped {
                    self.escaped = false
                    self.key.append(bytes[i])
                    i += 1
                    continue
                }
                // The run up to the next quote or backslash is the key's (as far as it can matter).
                let end = Self.nextQuoteOrBackslash(bytes, from: i)
                var k = i
                while k < end && self.key.length <= Self.longestKey {
                    self.key.append(bytes[k])
                    k += 1
                }
                i = end
                guard i < count else { return }
                if bytes[i] == Self.backslash {
                    self.escaped = true
                    self.key.append(Self.backslash)
                } else {
                    self.state = Self.countedKeys.contains(self.key) ? .afterKey(colon: false) : .outside
                }
                i += 1
            case .afterKey(let colon):
                let byte = bytes[i]
                i += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: ":") where !colon: self.state = .afterKey(colon: true)
                case Self.quote where colon: self.state = .counting(0)
                case Self.quote:
                    // A string after a string: not a key, but it may be one itself.
                    self.key = PackedKey()
                    self.state = .candidate
                default: self.state = .outside  // a value that is not a string (null, an object…), or not a key
                }
            case .counting(var length):
                if self.escaped {
                    self.escaped = false
                    length += 1
                    i += 1
                } else {
                    let end = Self.nextQuoteOrBackslash(bytes, from: i)
                    length += end - i
                    i = end
                    if i < count {
                        if bytes[i] == Self.backslash {
                            self.escaped = true
                            length += 1
                        } else {
                            if length > 0 {
                                self.tokens = Self.plus(self.tokens, (length + 2) / 3)
                                self.fragments = Self.plus(self.fragments, 1)
                            }
                            self.state = .outside
                            i += 1
                            continue
                        }
                        i += 1
                    }
                }
                self.state = .counting(length)
            }
        }
    }

    @inline(__always)
    private static func nextQuoteOrBackslash(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        while i < bytes.count {
            let byte = bytes[i]
            if byte == Self.quote || byte == Self.backslash { return i }
            i += 1
        }
        return i
    }

    /// The tokens of a string cut off by the end of a broken stream are counted too.
    public var tokensIncludingOpenString: Int {
        if case .counting(let count) = self.state, count > 0 { return Self.plus(self.tokens, (count + 2) / 3) }
        return self.tokens
    }

    private static func plus(_ a: Int, _ b: Int) -> Int { min(a &+ b, Usage.maxCount) }
}
