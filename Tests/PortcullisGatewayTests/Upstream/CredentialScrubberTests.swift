import NIOCore
import Testing

@testable import PortcullisGateway

/// The credential is masked wherever a backend echoes it, however the body is split, and the
/// body keeps its length.
@Suite struct CredentialScrubberTests {
    static let secret = Array("sk-live-0123456789".utf8)

    /// Feeds `text` split at `cuts` and returns what came out.
    func scrubbed(_ text: String, cuts: [Int]) -> String {
        var scrubber = CredentialScrubber(secret: Self.secret)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            out += Array(scrubber.scrub(ByteBuffer(bytes: bytes[start..<cut])).readableBytesView)
            start = cut
        }
        if let rest = scrubber.finish() { out += Array(rest.readableBytesView) }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func everyOccurrenceIsMaskedAtEverySplit() {
        let text = #"{"error":{"message":"Incorrect API key provided: sk-live-0123456789. Bearer sk-live-0123456789"}}"#
        let mask = String(repeating: "*", count: Self.secret.count)
        let expected = #"{"error":{"message":"Incorrect API key provided: \#(mask). Bearer \#(mask)"}}"#
        for cut in 0...text.utf8.count {
            #expect(scrubbed(text, cuts: [cut]) == expected, "split at \(cut)")
        }
        // Split into single bytes.
        #expect(scrubbed(text, cuts: Array(0...text.utf8.count)) == expected)
    }

    @Test func theJSONEscapedFormIsMaskedToo() {
        var scrubber = CredentialScrubber(forms: [Array("key/with/slash".utf8), Array(#"key\/with\/slash"#.utf8)])
        let text = #"{"message":"bad key: key\/with\/slash, plain key/with/slash"}"#
        var out = Array(scrubber.scrub(ByteBuffer(string: String(text.prefix(30)))).readableBytesView)
        out += Array(scrubber.scrub(ByteBuffer(string: String(text.dropFirst(30)))).readableBytesView)
        if let rest = scrubber.finish() { out += Array(rest.readableBytesView) }
        let result = String(decoding: out, as: UTF8.self)
        #expect(!result.contains("with") && result.utf8.count == text.utf8.count)
    }

    @Test func aBodyEndingInAPrefixOfTheSecretKeepsItAndOtherTextPassesUntouched() {
        #expect(scrubbed("plain text, no key", cuts: [5]) == "plain text, no key")
        // The tail began the secret but the body ended: it is not the secret, and it is kept.
        #expect(scrubbed("ends with sk-live-01", cuts: [12]) == "ends with sk-live-01")
        // Overlapping starts: "sk-sk-live-…" masks the real occurrence only.
        let mask = String(repeating: "*", count: Self.secret.count)
        #expect(scrubbed("sk-sk-live-0123456789!", cuts: [2, 4]) == "sk-\(mask)!")
    }
}
