import Atomics

/// Request ids: a client's own id is kept when it is a sane token, otherwise the gateway makes one.
public enum RequestID {
    public static let maximumLength = 128

    /// A sane id: 1…128 bytes of `[A-Za-z0-9._:-]` — nothing that could break a log line or a
    /// header, and nothing long enough to be a payload.
    public static func isSane(_ value: Substring) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }
}

/// Makes unique request ids cheaply: a random 64-bit prefix chosen once per generator and a
/// counter, rendered as 32 hex digits. No system call and no lock per id.
public final class RequestIDGenerator: Sendable {
    private let prefix: UInt64
    private let counter = ManagedAtomic<UInt64>(0)

    public init() {
        var rng = SystemRandomNumberGenerator()
        self.prefix = rng.next()
        self.counter.store(rng.next() >> 16, ordering: .relaxed)
    }

    public func next() -> String {
        let n = self.counter.loadThenWrappingIncrement(ordering: .relaxed)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            Self.writeHex(self.prefix, into: buffer, at: 0)
            Self.writeHex(n, into: buffer, at: 16)
            return 32
        }
    }

    private static let digits: StaticString = "0123456789abcdef"

    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        digits.withUTF8Buffer { table in
            var v = value
            for k in stride(from: 15, through: 0, by: -1) {
                buffer[offset + k] = table[Int(v & 0xF)]
                v >>= 4
            }
        }
    }
}
