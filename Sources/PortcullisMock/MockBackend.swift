import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisHTTP

/// One request as the mock received it.
public struct RecordedRequest: Sendable, Codable, Equatable {
    public var method: String
    public var uri: String
    public var headers: [[String]]
    public var body: String
    /// The HTTP version it came over ("1.1", "2.0").
    public var version: String?

    public func header(_ name: String) -> [String] {
        self.headers.filter { $0[0].lowercased() == name.lowercased() }.map { $0[1] }
    }
}

/// The OpenAI-compatible mock backend: chat completions, completions and embeddings with
/// realistic `usage`, SSE streaming with a configurable number of chunks and delay (honouring
/// `stream_options.include_usage`), KServe v1 and Open Inference Protocol v2 endpoints, and
/// fault injection (status, delay before headers, dropped connection after k chunks).
///
/// It is part of the product: the quickstart, the tests and the benchmarks all use it.
public final class MockBackend: Sendable {
    public let server: EmbeddedHTTPServer
    private let recorder: Recorder

    public var port: Int { self.server.port }

    private init(server: EmbeddedHTTPServer, recorder: Recorder) {
        self.server = server
        self.recorder = recorder
    }

    public static func start(
        host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup, options: MockOptions = .init()
    ) async throws -> MockBackend {
        let recorder = Recorder()
        let responder = MockResponder(options: options, recorder: recorder)
        let server = try await EmbeddedHTTPServer.start(host: host, port: port, group: group, http2: options.http2) { request, writer in
            responder.handle(request, writer)
        }
        return MockBackend(server: server, recorder: recorder)
    }

    /// Requests received so far (most recent last), when recording is on.
    public func recordedRequests() -> [RecordedRequest] { self.recorder.all() }

    public func clearRecorded() { self.recorder.clear() }

    public func close() async { await self.server.close() }
}

final class Recorder: Sendable {
    static let capacity = 512
    private let items = NIOLockedValueBox<[RecordedRequest]>([])
    private let abortedStreams = NIOLockedValueBox(0)

    /// A streamed response whose connection went away before its last event.
    func streamAborted() { self.abortedStreams.withLockedValue { $0 += 1 } }
    var aborted: Int { self.abortedStreams.withLockedValue { $0 } }

    func add(_ request: RecordedRequest) {
        self.items.withLockedValue { items in
            if items.count >= Self.capacity { items.removeFirst(items.count - Self.capacity + 1) }
            items.append(request)
        }
    }

    func all() -> [RecordedRequest] { self.items.withLockedValue { $0 } }
    func clear() { self.items.withLockedValue { $0.removeAll() } }
}

/// Builds the mock's answers. Runs on the connection's event loop; delays are scheduled there.
struct MockResponder: Sendable {
    let options: MockOptions
    let recorder: Recorder

    private static let words = [
        "Portcullis", "is", "answering", "from", "the", "mock", "backend", "with", "a", "streamed", "reply",
        "so", "that", "tests", "and", "benchmarks", "see", "real", "tokens",
    ]

    func handle(_ request: EmbeddedRequest, _ writer: EmbeddedResponseWriter) {
        let path = request.path
        if path == "/__mock/requests" {
            self.handleRecorded(request, writer)
            return
        }
        if path == "/__mock/stats" {
            self.handleStats(writer)
            return
        }
        if self.options.record {
            self.recorder.add(
                RecordedRequest(
                    method: request.head.method.rawValue, uri: request.head.uri,
                    headers: request.head.headers.map { [$0.name, $0.value] },
                    body: String(buffer: request.body), version: "\(request.head.version.major).\(request.head.version.minor)"))
        }
        let options = self.options.applying(request.head.headers)
        let reply: @Sendable (EmbeddedResponseWriter) -> Void
        if let status = options.status, status != 200 {
            let echoed = options.echoCredential.flatMap { request.head.headers.first(name: $0) }
            reply = { writer in
                var message = "mock failure injected"
                var headers = HTTPHeaders([("content-type", "application/json")])
                if let echoed {
                    let escaped = echoed.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    message = "Incorrect API key provided: \(escaped)."
                    headers.add(name: "x-mock-credential", value: echoed)
                }
                let body = #"{"error":{"message":"\#(message)","type":"server_error","param":null,"code":"mock_status_\#(status)"}}"#
                writer.respond(status: HTTPResponseStatus(statusCode: status), headers: headers, body: ByteBuffer(string: body))
            }
        } else {
            switch (request.head.method, path) {
            case (.GET, "/health"), (.GET, "/healthz"):
                reply = { $0.respondJSON(#"{"status":"ok"}"#) }
            case (.GET, "/v1/models"):
                let list = self.modelList()
                reply = { $0.respondJSON(list) }
            case (.POST, "/v1/chat/completions"):
                reply = self.completion(request, options: options, chat: true)
            case (.POST, "/v1/completions"):
                reply = self.completion(request, options: options, chat: false)
            case (.POST, "/v1/embeddings"):
                reply = self.embeddings(request, options: options)
            case (.POST, _) where path.hasPrefix("/v1/models/") && path.hasSuffix(":predict"):
                let name = path.dropFirst("/v1/models/".count).dropLast(":predict".count)
                reply = { $0.respondJSON(#"{"model_name":\#(JSONString.quoted(String(name))),"predictions":[[0.1,0.9]]}"#) }
            case (.POST, _) where path.hasPrefix("/v2/models/") && path.hasSuffix("/infer"):
                let name = path.dropFirst("/v2/models/".count).dropLast("/infer".count)
                reply = {
                    $0.respondJSON(
                        #"{"model_name":\#(JSONString.quoted(String(name))),"id":"mock","outputs":[{"name":"output-0","shape":[1,2],"datatype":"FP32","data":[0.1,0.9]}]}"#
                    )
                }
            default:
                reply = {
                    $0.respondJSON(
                        status: .notFound,
                        #"{"error":{"message":"mock: no such endpoint","type":"invalid_request_error","param":null,"code":"not_found"}}"#)
                }
            }
        }
        if options.headerDelay > .zero {
            writer.eventLoop.assumeIsolated().scheduleTask(in: options.headerDelay) {
                if writer.isActive { reply(writer) }
            }
        } else {
            reply(writer)
        }
    }

    private func handleStats(_ writer: EmbeddedResponseWriter) {
        writer.respondJSON(#"{"requests":\#(self.recorder.all().count),"abortedStreams":\#(self.recorder.aborted)}"#)
    }

    private func handleRecorded(_ request: EmbeddedRequest, _ writer: EmbeddedResponseWriter) {
        if request.head.method == .DELETE {
            self.recorder.clear()
            writer.respondJSON(#"{"cleared":true}"#)
            return
        }
        let data = (try? JSONEncoder().encode(self.recorder.all())) ?? Data("[]".utf8)
        writer.respondJSON(String(decoding: data, as: UTF8.self))
    }

    private func modelList() -> String {
        let items = self.options.models.map {
            #"{"id":\#(JSONString.quoted($0)),"object":"model","created":1700000000,"owned_by":"portcullis-mock"}"#
        }
        return #"{"object":"list","data":[\#(items.joined(separator: ","))]}"#
    }

    /// Prompt tokens estimated the way tokenizers roughly behave: about four bytes a token.
    private static func promptTokens(_ body: ByteBuffer) -> Int {
        max(1, body.readableBytes / 4)
    }

    private func completion(_ request: EmbeddedRequest, options: MockOptions, chat: Bool) -> @Sendable (EmbeddedResponseWriter) -> Void {
        let parsed = try? InferenceRequest.inspect(request.body).get()
        let model = parsed?.model ?? "unknown"
        let stream = parsed?.stream ?? false
        let includeUsage = (parsed?.includeUsage ?? false) && !options.omitUsage
        var chunks = options.chunks
        if let maxTokens = parsed?.maxTokens, !options.ignoreMaxTokens { chunks = min(chunks, max(maxTokens, 0)) }
        let promptTokens = Self.promptTokens(request.body)
        let id = (chat ? "chatcmpl-mock-" : "cmpl-mock-") + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let created = Int(Date().timeIntervalSince1970)
        let words = (0..<chunks).map { Self.words[$0 % Self.words.count] }
        let usage = #"{"prompt_tokens":\#(promptTokens),"completion_tokens":\#(chunks),"total_tokens":\#(promptTokens + chunks)}"#
        let modelJSON = JSONString.quoted(model)
        let usageMember = options.omitUsage ? "" : #","usage":\#(usage)"#

        if !stream {
            let text = JSONString.quoted(words.joined(separator: " "))
            let body: String
            if chat {
                body =
                    #"{"id":"\#(id)","object":"chat.completion","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"message":{"role":"assistant","content":\#(text)},"logprobs":null,"finish_reason":"stop"}]\#(usageMember)}"#
            } else {
                body =
                    #"{"id":"\#(id)","object":"text_completion","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"text":\#(text),"logprobs":null,"finish_reason":"stop"}]\#(usageMember)}"#
            }
            let dropAfter = options.dropAfter
            return { writer in
                if dropAfter != nil {
                    var headers = HTTPHeaders()
                    headers.add(name: "content-type", value: "application/json")
                    headers.add(name: "content-length", value: String(body.utf8.count))
                    writer.start(status: .ok, headers: headers)
                    writer.write(ByteBuffer(string: String(body.prefix(body.count / 2))), flush: true)
                    writer.abort()
                    return
                }
                writer.respondJSON(body)
            }
        }

        // Streaming.
        let usageField = includeUsage ? #","usage":null"# : ""
        var events: [String] = []
        for (index, word) in words.enumerated() {
            let content = JSONString.quoted(index == 0 ? word : " " + word)
            if chat {
                let role = index == 0 ? #""role":"assistant","# : ""
                events.append(
                    #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"delta":{\#(role)"content":\#(content)},"logprobs":null,"finish_reason":null}]\#(usageField)}"#
                        + "\n\n")
            } else {
                events.append(
                    #"data: {"id":"\#(id)","object":"text_completion","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"text":\#(content),"logprobs":null,"finish_reason":null}]\#(usageField)}"#
                        + "\n\n")
            }
        }
        if chat {
            events.append(
                #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]\#(usageField)}"#
                    + "\n\n")
        } else {
            events.append(
                #"data: {"id":"\#(id)","object":"text_completion","created":\#(created),"model":\#(modelJSON),"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]\#(usageField)}"#
                    + "\n\n")
        }
        if includeUsage {
            let object = chat ? "chat.completion.chunk" : "text_completion"
            events.append(
                #"data: {"id":"\#(id)","object":"\#(object)","created":\#(created),"model":\#(modelJSON),"choices":[],"usage":\#(usage)}"#
                    + "\n\n")
        }
        events.append("data: [DONE]\n\n")
        let finalEvents = events
        return { writer in
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/event-stream")
            headers.add(name: "cache-control", value: "no-cache")
            writer.start(status: .ok, headers: headers)
            writer.flush()
            StreamSender(writer: writer, events: finalEvents, options: options, recorder: self.recorder).send(index: 0)
        }
    }

    private func embeddings(_ request: EmbeddedRequest, options: MockOptions) -> @Sendable (EmbeddedResponseWriter) -> Void {
        let object = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any]
        let model = object?["model"] as? String ?? "unknown"
        var inputs = 1
        if let array = object?["input"] as? [Any] { inputs = max(1, array.count) }
        let promptTokens = Self.promptTokens(request.body)
        let dims = options.embeddingDimensions
        var data: [String] = []
        for i in 0..<inputs {
            let vector = (0..<dims).map { String(format: "%.4f", Double(($0 * 7 + i * 3) % 10) / 10.0 - 0.45) }
            data.append(#"{"object":"embedding","index":\#(i),"embedding":[\#(vector.joined(separator: ","))]}"#)
        }
        let body =
            #"{"object":"list","data":[\#(data.joined(separator: ","))],"model":\#(JSONString.quoted(model)),"usage":{"prompt_tokens":\#(promptTokens),"total_tokens":\#(promptTokens)}}"#
        return { $0.respondJSON(body) }
    }
}

/// Sends pre-rendered SSE events one by one with the configured delays.
private struct StreamSender {
    let writer: EmbeddedResponseWriter
    let events: [String]
    let options: MockOptions
    let recorder: Recorder

    func send(index start: Int) {
        var index = start
        while true {
            guard self.writer.isActive else {
                self.recorder.streamAborted()
                return
            }
            if index == self.events.count {
                self.writer.end()
                return
            }
            if let dropAfter = self.options.dropAfter, index >= dropAfter {
                self.writer.abort()
                return
            }
            let delay = index == 0 ? self.options.firstChunkDelay : self.options.chunkDelay
            if delay > .zero {
                let next = index
                self.writer.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                    guard self.writer.isActive else {
                        self.recorder.streamAborted()
                        return
                    }
                    self.writer.write(ByteBuffer(string: self.events[next]), flush: true)
                    self.send(index: next + 1)
                }
                return
            }
            self.writer.write(ByteBuffer(string: self.events[index]), flush: true)
            index += 1
        }
    }
}
