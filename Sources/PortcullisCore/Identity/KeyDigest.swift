/// A 32-byte digest (SHA-256) as a hashable value, for API-key lookup without keeping keys.
public struct KeyDigest: Hashable, Sendable {
    public let words: (UInt64, UInt64, UInt64, UInt64)

    /// From 32 raw bytes (big-endian words). Not generic, so it costs four loads.
    public init?(unsafeBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 32 else { return nil }
        self.words = (
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        )
    }

    public init?(bytes: [UInt8]) {
        guard let digest = bytes.withUnsafeBytes({ KeyDigest(unsafeBytes: $0) }) else { return nil }
        self = digest
    }

    public init?(hex: String) {
        var bytes: [UInt8] = []
        var high: UInt8?
        for byte in hex.utf8 {
            guard let value = JSONString.hexValue(byte) else { return nil }
            if let h = high {
                bytes.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        guard high == nil else { return nil }
        self.init(bytes: bytes)
    }

    /// Compares all 32 bytes without an early exit.
    public func constantTimeEquals(_ other: KeyDigest) -> Bool {
        ((self.words.0 ^ other.words.0) | (self.words.1 ^ other.words.1) | (self.words.2 ^ other.words.2)
            | (self.words.3 ^ other.words.3)) == 0
    }

    public static func == (lhs: KeyDigest, rhs: KeyDigest) -> Bool { lhs.constantTimeEquals(rhs) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
    }

    public var hex: String {
        [self.words.0, self.words.1, self.words.2, self.words.3].map {
            let s = String($0, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }
}
