import PortcullisCore
import Testing

/// A JSON string or key compared with an ASCII text: raw bytes equal to the text match; an
/// escaped spelling of the text matches; a string of the text's length with an escape in it,
/// or any other string, does not.
@Suite struct JSONViewComparisonTests {
    static func matches(_ token: String, _ text: StaticString) -> Bool {
        Array(token.utf8).withUnsafeBytes { bytes in JSONView(bytes).string(at: 0..<bytes.count, equals: text) }
    }

    static func keyMatches(_ contents: String, hasEscapes: Bool, _ text: StaticString) -> Bool {
        Array(contents.utf8).withUnsafeBytes { bytes in JSONView(bytes).key(0..<bytes.count, hasEscapes: hasEscapes, equals: text) }
    }

    @Test func stringsMatchTheirTextEscapedOrNot() {
        #expect(Self.matches(#""audio""#, "audio"))
        #expect(Self.matches(#""\u0061udio""#, "audio"))
        #expect(Self.matches(#""json\u005fschema""#, "json_schema"))
        #expect(Self.matches(#""\u0074\u0065\u0078\u0074""#, "text"))
        #expect(!Self.matches(#""a\nio""#, "audio"))  // the text's length, with an escape
        #expect(!Self.matches(#""audi\\""#, "audio"))
        #expect(!Self.matches(#""audiO""#, "audio"))
        #expect(!Self.matches(#""audio ""#, "audio"))
        #expect(!Self.matches(#""audi""#, "audio"))
        #expect(!Self.matches(#""\u0061udiO""#, "audio"))
        #expect(!Self.matches(#""""#, "audio"))
    }

    @Test func keysMatchTheirNameEscapedOrNot() {
        #expect(Self.keyMatches("role", hasEscapes: false, "role"))
        #expect(Self.keyMatches(#"r\u006fle"#, hasEscapes: true, "role"))
        #expect(!Self.keyMatches("rolE", hasEscapes: false, "role"))
        #expect(!Self.keyMatches(#"r\u006fl"#, hasEscapes: true, "role"))
        #expect(Self.keyMatches("n", hasEscapes: false, "n"))
        #expect(!Self.keyMatches("", hasEscapes: false, "n"))
    }
}
