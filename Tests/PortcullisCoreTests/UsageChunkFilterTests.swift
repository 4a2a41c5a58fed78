import Foundation
import NIOCore
import Testing

@testable import PortcullisCore

/// The usage chunk the gateway asked for comes out of the client's stream, whole events only,
/// however the bytes are split; asking for it keeps the client's other stream options.
@Suite struct UsageChunkFilterTests {
    static let content = #"data: {"id":"1","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#
    static let usage = #"data: {"id":"1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
    static let mixed = #"data: {"id":"1","choices":[{"index":0,"delta":{}}],"usage":{"total_tokens":4}}"#

    static func run(_ stream: String, splitEvery size: Int, lineEnd: String = "\n") -> String {
        let text = stream.replacingOccurrences(of: "\n", with: lineEnd)
        var filter = UsageChunkFilter()
        var out: [ByteBuffer] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            filter.feed(ByteBuffer(bytes: bytes[i..<min(i + size, bytes.count)]), into: &out)
            i += size
        }
        if let rest = filter.finish() { out.append(rest) }
        return out.map { String(buffer: $0) }.joined()
    }

    @Test(arguments: [1, 7, 64, 100_000])
    func theUsageOnlyEventIsDroppedAndEverythingElseKept(size: Int) {
        let stream = "\(Self.content)\n\n: keep-alive\n\n\(Self.mixed)\n\n\(Self.usage)\n\ndata: [DONE]\n\n"
        let expected = "\(Self.content)\n\n: keep-alive\n\n\(Self.mixed)\n\ndata: [DONE]\n\n"
        #expect(Self.run(stream, splitEvery: size) == expected)
        #expect(Self.run(stream, splitEvery: size, lineEnd: "\r\n") == expected.replacingOccurrences(of: "\n", with: "\r\n"))
    }

    @Test func anUnterminatedLastEventIsForwardedAtTheEnd() {
        #expect(Self.run("\(Self.content)\n\ndata: {\"partial\"", splitEvery: 5) == "\(Self.content)\n\ndata: {\"partial\"")
        #expect(Self.run("\(Self.content)\n\n\(Self.usage)\n", splitEvery: 9) == "\(Self.content)\n\n", "a usage-only last event is dropped at the end too")
    }

    @Test func aPrettyPrintedUsageChunkIsRecognisedAndCRLineEndsWork() {
        let pretty = #"data: {"id": "1", "choices": [], "usage": {"total_tokens": 4}}"#
        #expect(Self.run("\(Self.content)\n\n\(pretty)\n\n", splitEvery: 3) == "\(Self.content)\n\n")
        let spaced = #"data: {"id":"1","choices" : [ ],"usage" :{"total_tokens":4}}"#
        let bare = #"data: {"id":"1","usage":{"total_tokens":4}}"#
        #expect(Self.run("\(Self.content)\n\n\(spaced)\n\n\(bare)\n\n", splitEvery: 5) == "\(Self.content)\n\n")
        #expect(Self.run("\(Self.content)\r\r\(Self.usage)\r\rdata: [DONE]\r\r", splitEvery: 4) == "\(Self.content)\r\rdata: [DONE]\r\r")
    }

    @Test func anEventTooLargeToHoldPassesThroughWhole() {
        let big = "data: {\"choices\":[{\"delta\":{\"content\":\"" + String(repeating: "x", count: 3 * UsageChunkFilter.holdLimit) + "\"}}]}"
        let stream = "\(big)\n\n\(Self.usage)\n\ndata: [DONE]\n\n"
        #expect(Self.run(stream, splitEvery: 1000) == "\(big)\n\ndata: [DONE]\n\n")
    }

    @Test(arguments: [
        (#"{"model":"m","stream":true}"#, #"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#),
        (#"{"model":"m","stream":true,"stream_options":null}"#, #"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}"#, #"{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}"#),
        (#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":true}}"#, #"{"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#),
        (#"{"model":"m","stream":true,"stream_options":{ }}"#, #"{"model":"m","stream":true,"stream_options":{"include_usage":true }}"#),
    ])
    func askingForUsageKeepsTheClientsOptions(body: String, expected: String) throws {
        let request = try InferenceRequest.inspect(ByteBuffer(string: body)).get()
        let edited = request.requestingUsage(in: ByteBuffer(string: body))
        #expect(String(buffer: edited) == expected)
        #expect(try InferenceRequest.inspect(edited).get().includeUsage)
    }
}

@Suite("Generated text counter: the tokens a backend generated, from its text")
struct GeneratedTextCounterTests {
    private func count(_ pieces: [String]) -> GeneratedTextCounter {
        var counter = GeneratedTextCounter()
        for piece in pieces { Array(piece.utf8).withUnsafeBytes { counter.feed($0) } }
        return counter
    }

    @Test func streamedContentCountsOneTokenPerThreeBytesPerFragment() {
        let stream = [
            #"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"# + "\n\n",
            #"data: {"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}"# + "\n\n",
            #"data: {"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}"# + "\n\ndata: [DONE]\n\n",
        ]
        // "Hello" 5 bytes: 2; " world" 6 bytes: 2; the empty one nothing; "assistant" is a role, not text.
        #expect(self.count(stream).tokens == 4)
        // Two non-empty fragments: the lower bound a hard ceiling judges by.
        #expect(self.count(stream).fragments == 2)
        // Split at every byte boundary, the count is the same.
        let joined = stream.joined()
        let bytes = Array(joined.utf8)
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            var counter = GeneratedTextCounter()
            bytes[..<cut].withUnsafeBytes { counter.feed($0) }
            bytes[cut...].withUnsafeBytes { counter.feed($0) }
            #expect(counter.tokens == 4, "cut at \(cut)")
        }
    }

    @Test func textToolArgumentsAndReasoningCountButKeysAndOtherValuesDoNot() {
        let body = #"{"choices":[{"text":"abcdef","message":{"content":null,"reasoning_content":"abc","tool_calls":[{"function":{"name":"content","arguments":"{\"a\":1}"}}]}}],"model":"text"}"#
        // "abcdef" 2, "abc" 1, arguments `{\"a\":1}` 9 bytes as written: 3; the name "content" and the model "text" are values of other keys.
        #expect(self.count([body]).tokens == 6)
        #expect(self.count([#"{"content" : "abcd", "content": 12}"#]).tokens == 2, "spaces around the colon; a number is not text")
    }

    @Test func longValuesEscapesAndKeysLongerThanAnyCountedOneAreSkippedRight() {
        // A long id, a key past 17 bytes that ends like a counted one, escaped quotes in keys and
        // values, and a counted key whose value is escaped throughout.
        let body = #"{"id":"chatcmpl-\#(String(repeating: "x", count: 300))","a_very_long_key_named_content":"abcdef","#
            + #""k\"content":"zz","content":"a\"b\\c\u00e9","text":"\#(String(repeating: "y", count: 30))"}"#
        let whole = self.count([body])
        // a\"b\\c\u00e9 is 13 bytes as written: 5; the 30 y's: 10. Nothing else counts.
        #expect(whole.tokens == 15 && whole.fragments == 2, "\(whole.tokens) \(whole.fragments)")
        // The same at every split point, one byte at a time too.
        let bytes = Array(body.utf8)
        for cut in 1..<bytes.count {
            var counter = GeneratedTextCounter()
            bytes[..<cut].withUnsafeBytes { counter.feed($0) }
            bytes[cut...].withUnsafeBytes { counter.feed($0) }
            #expect(counter.tokens == whole.tokens && counter.fragments == whole.fragments, "split at \(cut)")
        }
        var single = GeneratedTextCounter()
        for byte in bytes { [byte].withUnsafeBytes { single.feed($0) } }
        #expect(single.tokens == whole.tokens && single.fragments == whole.fragments)
    }

    @Test func aStringCutOffByABrokenStreamStillCounts() {
        let counter = self.count([#"data: {"choices":[{"delta":{"content":"abcdefg"#])
        #expect(counter.tokens == 0)
        #expect(counter.tokensIncludingOpenString == 3)
    }
}
