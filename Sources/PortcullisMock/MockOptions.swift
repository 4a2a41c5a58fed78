import NIOCore
import NIOHTTP1

/// How the mock behaves by default; each knob can be overridden per request with a header
/// (see ``MockOptions/applying(_:)``), which is how tests drive faults through the gateway.
public struct MockOptions: Sendable {
    /// Models listed by `GET /v1/models` (any model name is served).
    public var models: [String] = ["demo-chat", "demo-embed"]
    /// Content chunks of a streamed response (`x-mock-chunks`).
    public var chunks = 8
    /// Delay between stream chunks (`x-mock-chunk-delay-ms`).
    public var chunkDelay: TimeAmount = .milliseconds(20)
    /// Delay between the response head and the first stream event (`x-mock-first-chunk-delay-ms`).
    public var firstChunkDelay: TimeAmount = .zero
    /// Delay before the response head (`x-mock-delay-ms`).
    public var headerDelay: TimeAmount = .zero
    /// Status to answer with instead of 200, with an OpenAI-shaped error body (`x-mock-status`).
    public var status: Int?
    /// Drop the connection after this many stream chunks, or right after the head for
    /// non-streaming responses (`x-mock-drop-after`).
    public var dropAfter: Int?
    /// Report no usage at all, as some backends do (`x-mock-no-usage: 1`): none in a JSON
    /// answer, and no usage chunk in a stream even when `stream_options.include_usage` asks.
    public var omitUsage = false
    /// Generate `chunks` words whatever `max_tokens` says, as a misbehaving backend would
    /// (`x-mock-ignore-max-tokens: 1`).
    public var ignoreMaxTokens = false
    /// Quote the credential received in this header back in an error answer, as OpenAI's
    /// "Incorrect API key provided" does: in the error message and in an
    /// `x-mock-credential` response header (`x-mock-echo-credential: HEADER`).
    public var echoCredential: String?
    /// Dimensions of the embedding vectors.
    public var embeddingDimensions = 8
    /// Keep the last requests (method, path, headers, body) for `GET /__mock/requests`.
    public var record = true
    /// Also speak HTTP/2 with prior knowledge (h2c), told apart from HTTP/1.1 by the connection
    /// preface (`--http2`; not per request).
    public var http2 = false

    public init() {}

    /// The options with this request's `x-mock-*` headers applied.
    public func applying(_ headers: HTTPHeaders) -> MockOptions {
        var options = self
        if let v = headers.first(name: "x-mock-chunks").flatMap(Int.init), v >= 0, v <= 100_000 { options.chunks = v }
        if let v = headers.first(name: "x-mock-chunk-delay-ms").flatMap(Int64.init), v >= 0 {
            options.chunkDelay = .milliseconds(v)
        }
        if let v = headers.first(name: "x-mock-first-chunk-delay-ms").flatMap(Int64.init), v >= 0 {
            options.firstChunkDelay = .milliseconds(v)
        }
        if let v = headers.first(name: "x-mock-delay-ms").flatMap(Int64.init), v >= 0 {
            options.headerDelay = .milliseconds(v)
        }
        if let v = headers.first(name: "x-mock-status").flatMap(Int.init), (100...599).contains(v) { options.status = v }
        if let v = headers.first(name: "x-mock-drop-after").flatMap(Int.init), v >= 0 { options.dropAfter = v }
        if headers.first(name: "x-mock-no-usage") == "1" { options.omitUsage = true }
        if headers.first(name: "x-mock-ignore-max-tokens") == "1" { options.ignoreMaxTokens = true }
        if let v = headers.first(name: "x-mock-echo-credential"), !v.isEmpty { options.echoCredential = v }
        return options
    }
}
