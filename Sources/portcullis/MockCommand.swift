import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import PortcullisMock

struct MockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock",
        abstract: "Run the OpenAI-compatible mock backend as its own process.",
        discussion: """
            Serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, KServe \
            /v1/models/NAME:predict and OIP /v2/models/NAME/infer, and GET/DELETE /__mock/requests \
            (the requests it received). Every default below can be overridden per request with a \
            header: x-mock-status, x-mock-delay-ms, x-mock-chunks, x-mock-chunk-delay-ms, \
            x-mock-first-chunk-delay-ms, x-mock-drop-after.
            """
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one; the chosen port is printed).") var port = 8081
    @Option(help: "Content chunks in a streamed response.") var chunks = 8
    @Option(help: "Milliseconds between stream chunks.") var chunkDelayMs: Int64 = 20
    @Option(help: "Milliseconds between the response head and the first stream event.") var firstChunkDelayMs: Int64 = 0
    @Option(help: "Milliseconds before the response head.") var delayMs: Int64 = 0
    @Option(help: "Answer every request with this status and an error body.") var status: Int?
    @Option(help: "Drop the connection after this many stream chunks.") var dropAfter: Int?
    @Option(help: "Models listed by GET /v1/models (comma-separated).") var models = "demo-chat,demo-embed"
    @Flag(help: "Do not record requests (for benchmarks).") var noRecord = false
    @Flag(help: "Also speak HTTP/2 with prior knowledge (h2c), told apart by the connection preface.") var http2 = false
    @Option(help: "Event loop threads.") var threads = 1

    func run() async throws {
        var options = MockOptions()
        options.chunks = self.chunks
        options.chunkDelay = .milliseconds(self.chunkDelayMs)
        options.firstChunkDelay = .milliseconds(self.firstChunkDelayMs)
        options.headerDelay = .milliseconds(self.delayMs)
        options.status = self.status
        options.dropAfter = self.dropAfter
        options.models = self.models.split(separator: ",").map(String.init)
        options.record = !self.noRecord
        options.http2 = self.http2
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, self.threads))
        let mock = try await MockBackend.start(host: self.host, port: self.port, group: group, options: options)
        FileHandle.standardOutput.write(Data("portcullis mock listening on http://\(self.host):\(mock.port)\n".utf8))
        try await mock.server.channel.closeFuture.get()
    }
}
