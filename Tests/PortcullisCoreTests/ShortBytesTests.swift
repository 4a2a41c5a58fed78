import Testing

@testable import PortcullisCore

/// ``ShortBytes/signature(_:count:)`` tells runs of one length apart exactly up to 16 bytes
/// (overlapping word loads): equal for equal bytes, different for a change at any position.
@Suite struct ShortBytesTests {
    @Test func signaturesDifferForAChangeAtEveryLengthAndPosition() {
        var generator = SystemRandomNumberGenerator()
        func signature(_ bytes: [UInt8]) -> [UInt64] {
            bytes.withUnsafeBytes { raw in
                let pair = raw.isEmpty ? (0, 0) : ShortBytes.signature(raw.baseAddress!, count: raw.count)
                return [pair.0, pair.1]
            }
        }
        for length in 0...16 {
            for _ in 0..<8 {
                let base = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                #expect(signature(base) == signature(Array(base)), "length \(length)")
                for position in 0..<length {
                    var changed = base
                    changed[position] ^= UInt8.random(in: 1...255, using: &generator)
                    #expect(signature(base) != signature(changed), "length \(length), byte \(position)")
                }
            }
        }
    }
}
