import NIOCore
import Testing

@testable import PortcullisCore

@Suite struct UsageScannerTests {
    static let document =
        #"{"id":"x","choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 99}"}}],"nested":{"usage":{"prompt_tokens":77}},"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42},"after":"usage"}"#

    @Test func findsTopLevelUsageOnly() {
        var scanner = UsageScanner()
        Self.document.utf8.withContiguousStorageIfAvailable { scanner.feed(UnsafeRawBufferPointer($0)) }
        #expect(scanner.usage == Usage(promptTokens: 12, completionTokens: 30, totalTokens: 42))
    }

    /// `bytes` fed to a fresh scanner in pieces of `size`.
    static func scan(_ bytes: [UInt8], inChunksOf size: Int) -> UsageScanner {
        var scanner = UsageScanner()
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + size)
            bytes[i..<end].withUnsafeBytes { scanner.feed($0) }
            i = end
        }
        return scanner
    }

    @Test func sameResultWhateverTheChunking() {
        let bytes = Array(Self.document.utf8)
        for size in [1, 2, 3, 7, 13, 64] {
            let scanner = Self.scan(bytes, inChunksOf: size)
            #expect(scanner.usage == Usage(promptTokens: 12, completionTokens: 30, totalTokens: 42), "chunk size \(size)")
        }
    }

    /// The first top-level `model` string is kept for traces: not a nested one, not a `model`
    /// inside a string, not one with escapes, not the key `models`; at every split point.
    @Test(arguments: [
        (#"{"choices":[{"model":"nested"}],"note":"\"model\":\"fake\"","model":"gpt-x","usage":{"prompt_tokens":1}}"#, "gpt-x"),
        (#"{"models":"plural","model" : "spaced-1"}"#, "spaced-1"),
        (#"{"model":"first","model":"second"}"#, "first"),
        (#"{"model":"with\"escape","x":1}"#, nil),
        (#"{"model":42}"#, nil),
        (#"{"model":{"name":"obj"}}"#, nil),
        (#"{"modelx":"no","mode":"no"}"#, nil),
    ] as [(String, String?)])
    func keepsTheFirstTopLevelModelString(document: String, model: String?) {
        let bytes = Array(document.utf8)
        for size in [1, 2, 5, bytes.count] {
            let scanner = Self.scan(bytes, inChunksOf: size)
            #expect(scanner.model == model, "chunk size \(size)")
        }
    }

    @Test func theModelDoesNotDisturbTheUsage() {
        var scanner = UsageScanner()
        let document = #"{"model":"m1","usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#
        document.utf8.withContiguousStorageIfAvailable { scanner.feed(UnsafeRawBufferPointer($0)) }
        #expect(scanner.model == "m1")
        #expect(scanner.usage == Usage(promptTokens: 12, completionTokens: 30, totalTokens: 42))
        scanner.reset()
        #expect(scanner.model == "m1", "kept across SSE events")
    }

    @Test func nullUsageIsIgnoredAndTotalDefaultsToSum() {
        var scanner = UsageScanner()
        let text = #"{"usage":null,"x":1}"#
        text.utf8.withContiguousStorageIfAvailable { scanner.feed(UnsafeRawBufferPointer($0)) }
        #expect(scanner.usage == nil)
        var other = UsageScanner()
        let embed = #"{"data":[{"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":5}}"#
        embed.utf8.withContiguousStorageIfAvailable { other.feed(UnsafeRawBufferPointer($0)) }
        #expect(other.usage == Usage(promptTokens: 5, completionTokens: 0, totalTokens: 5))
    }
}

@Suite struct SSEScannerTests {
    static let stream =
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n"
        + ": comment\r\n\r\n"
        + "event: message\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":null}\r\n\r\n"
        + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
        + "data: [DONE]\n\n"

    @Test func countsEventsAndFindsTheUsageChunk() {
        for size in [1, 5, 17, 1000] {
            var scanner = SSEScanner()
            let bytes = Array(Self.stream.utf8)
            var i = 0
            while i < bytes.count {
                let end = min(bytes.count, i + size)
                bytes[i..<end].withUnsafeBytes { scanner.feed($0) }
                i = end
            }
            #expect(scanner.eventCount == 4, "chunk size \(size)")
            #expect(scanner.usage == Usage(promptTokens: 3, completionTokens: 2, totalTokens: 5))
            #expect(scanner.atEventBoundary)
        }
    }

    @Test func knowsWhenItIsMidEvent() {
        var scanner = SSEScanner()
        #expect(scanner.atEventBoundary)
        let part = "data: {\"x\":"
        part.utf8.withContiguousStorageIfAvailable { scanner.feed(UnsafeRawBufferPointer($0)) }
        #expect(!scanner.atEventBoundary)
        let rest = "1}\n\n"
        rest.utf8.withContiguousStorageIfAvailable { scanner.feed(UnsafeRawBufferPointer($0)) }
        #expect(scanner.atEventBoundary)
    }
}
