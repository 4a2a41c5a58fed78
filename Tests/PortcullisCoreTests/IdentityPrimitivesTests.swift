import Testing

@testable import PortcullisCore

@Suite struct Base64URLTests {
    @Test func roundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 0xFF) }
            #expect(Base64URL.decode(Substring(Base64URL.encode(bytes))) == bytes)
        }
    }

    @Test(arguments: ["a", "ab=c", "ab+c", "ab/c", "ab c", "abc=", "AB\n", "ab", "abd"])
    func refusesNonStrictInput(text: String) {
        // "ab" is valid only if its unused bits are zero: "ab" -> 0x69 with 4 leftover bits 1011 ≠ 0.
        #expect(Base64URL.decode(Substring(text)) == nil)
    }

    @Test func acceptsCanonicalShortForms() {
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AAE") == [0, 1])
    }
}

@Suite struct KeyDigestTests {
    @Test func parsesHexAndComparesAllBytes() {
        let hex = "ac7fde03c2109964ab87f7a720c1dbaebb816e4047951928642a1fab937bccc5"
        let a = KeyDigest(hex: hex)
        #expect(a?.hex == hex)
        let b = KeyDigest(hex: String(hex.dropLast()) + "4")
        #expect(a != nil && b != nil && a != b)
        #expect(KeyDigest(hex: "zz") == nil)
        #expect(KeyDigest(hex: String(hex.dropLast(2))) == nil)
    }
}
