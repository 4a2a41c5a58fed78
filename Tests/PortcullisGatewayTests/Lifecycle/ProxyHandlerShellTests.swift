import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import PortcullisCore
import PortcullisTestSupport
import Testing

@testable import PortcullisGateway

/// A stage that waits on a promise the test controls, with a deadline and a cancel hook.
final class WaitingStage: Stage, Sendable {
    private let state = NIOLockedValueBox<(promise: EventLoopPromise<SuspensionResult>?, cancelled: Int)>((nil, 0))
    let wait: TimeAmount
    let clock: @Sendable () -> NIODeadline

    init(wait: TimeAmount, clock: @escaping @Sendable () -> NIODeadline) {
        self.wait = wait
        self.clock = clock
    }

    var name: String { "wait" }
    var phase: StagePhase { .head }
    var promise: EventLoopPromise<SuspensionResult>? { self.state.withLockedValue { $0.promise } }
    var cancelled: Int { self.state.withLockedValue { $0.cancelled } }

    func evaluate(_ exchange: Exchange) -> StageResult {
        let promise = exchange.eventLoop.makePromise(of: SuspensionResult.self)
        self.state.withLockedValue { $0.promise = promise }
        return .suspend(
            Suspension(
                future: promise.futureResult, deadline: self.clock() + self.wait, stage: self.name,
                cancel: { [state] in state.withLockedValue { $0.cancelled += 1 } }))
    }
}

/// The IO shell on an `EmbeddedChannel`: the real HTTP/1 codec and `ProxyHandler`, no socket,
/// and the loop's virtual clock driving every timeout.
@Suite struct ProxyHandlerShellTests {
    struct Shell {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop
        let probe: LedgerProbe
        let context: LoopContext

        init(yaml: String = "routes: [{ match: { model: m }, backend: b }]", http: String = "", stages: (EmbeddedEventLoop) -> [any Stage]? = { _ in nil }) throws {
            let loop = EmbeddedEventLoop()
            self.loop = loop
            self.probe = LedgerProbe()
            let snapshot = try ExchangeFixture.snapshot(yaml + "\n" + http, stages: stages(loop))
            let context = try ExchangeFixture.loop(snapshot, eventLoop: loop, probe: self.probe)
            self.context = context
            self.channel = EmbeddedChannel(loop: loop)
            let state = ConnectionState(clientAddress: "127.0.0.1", isTLS: false, isHTTP2: false, listenerName: "main")
            let sync = self.channel.pipeline.syncOperations
            let http = snapshot.config.http
            try GatewayServer.addHTTP1Handlers(
                sync, state: state, limits: .init(maxHeaderBytes: http.maxHeaderBytes, maxFields: http.maxHeaderCount))
            try sync.addHandler(ProxyHandler(loop: context, connection: state))
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func send(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }

        /// Everything written to the client so far.
        func received() throws -> String {
            var text = ""
            while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        var isOpen: Bool { self.channel.isActive }
    }

    static let get = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test func aLocalAnswerKeepsTheConnectionUntilTheIdleTimeout() throws {
        let shell = try Shell(http: "http: { idleTimeout: 5s }")
        try shell.send(Self.get)
        #expect(try shell.received().hasPrefix("HTTP/1.1 200 OK"))
        #expect(shell.probe.outcomes == [.completed])
        shell.loop.advanceTime(by: .seconds(4))
        #expect(shell.isOpen)
        shell.loop.advanceTime(by: .seconds(1))
        #expect(!shell.isOpen)
    }

    @Test func aSlowHeadGets408AndIsLogged() throws {
        let shell = try Shell(http: "http: { headerTimeout: 2s }")
        try shell.send("GET /v1/models HTTP/1.1\r\nHo")
        shell.loop.advanceTime(by: .seconds(2))
        #expect(try shell.received().hasPrefix("HTTP/1.1 408"))
        #expect(shell.probe.outcomes == [.timedOut(.header)])
        #expect(!shell.isOpen)
    }

    @Test func aSlowBodyGets408() throws {
        let shell = try Shell(http: "http: { bodyTimeout: 3s }")
        try shell.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"model\":")
        shell.loop.advanceTime(by: .seconds(3))
        let text = try shell.received()
        #expect(text.hasPrefix("HTTP/1.1 408"), "\(text)")
        #expect(text.contains("connection: close"))
        #expect(shell.probe.outcomes == [.timedOut(.body)])
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndABadOneEndsTheConnection() throws {
        let shell = try Shell()
        try shell.send(Self.get + "GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n" + Self.get + "BAD \u{01} HTTP\r\n\r\n")
        let text = try shell.received()
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "404", "200", "400"], "\(text)")
        #expect(shell.probe.outcomes.map(\.label) == ["completed", "refused", "completed", "refused"])
        #expect(!shell.isOpen)
    }

    @Test(arguments: [
        ("GET /v1/models HTTP/1.1\r\n\r\n", "invalid_host"),
        ("GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "invalid_host"),
        ("GET /v1/models HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid_host"),
        ("POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "invalid_framing"),
    ])
    func badFramingIs400AndCloses(request: String, code: String) throws {
        let shell = try Shell()
        try shell.send(request)
        let text = try shell.received()
        #expect(text.hasPrefix("HTTP/1."), "\(text)")
        #expect(text.contains(" 400 "), "\(text)")
        #expect(text.contains(code), "\(text)")
        #expect(!shell.isOpen)
    }

    @Test func aClientLeavingWhileAStageWaitsCancelsTheWaitAndSettlesOnce() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(5), clock: { loop.now })
            waiting = stage
            return [stage, RequestInspectionStage(), ModelRoutingStage()]
        })
        try shell.send(Self.get)
        #expect(try shell.received().isEmpty)
        try shell.channel.close().wait()
        #expect(waiting?.cancelled == 1)
        #expect(shell.probe.outcomes == [.clientAborted(.headStages)])
        // The wait's late result changes nothing.
        waiting?.promise?.succeed(.proceed)
        shell.loop.advanceTime(by: .seconds(10))
        #expect(shell.probe.count == 1)
    }

    @Test func aWaitPastItsDeadlineIsCancelledAndAnswered504() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(2), clock: { loop.now })
            waiting = stage
            return [stage]
        })
        try shell.send(Self.get)
        shell.loop.advanceTime(by: .seconds(2))
        let text = try shell.received()
        #expect(text.hasPrefix("HTTP/1.1 504"), "\(text)")
        #expect(text.contains("dependency_timeout"))
        #expect(waiting?.cancelled == 1)
        #expect(shell.probe.outcomes == [.timedOut(.suspension)])
        waiting?.promise?.succeed(.proceed)
        #expect(shell.probe.count == 1)
        #expect(shell.isOpen)
    }

    @Test func aWaitThatFailsIsATypedRefusalNotABare500() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(2), clock: { loop.now })
            waiting = stage
            return [stage]
        })
        try shell.send(Self.get)
        struct Broken: Error {}
        waiting?.promise?.fail(Broken())
        let text = try shell.received()
        #expect(text.hasPrefix("HTTP/1.1 503"), "\(text)")
        #expect(text.contains("dependency_failed"))
        #expect(shell.probe.outcomes == [.refused(.dependencyFailed)])
    }

    @Test func aWaitThatProceedsResumesTheNextStage() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(2), clock: { loop.now })
            waiting = stage
            return [stage, RequestInspectionStage(), ModelRoutingStage()]
        })
        try shell.send(Self.get)
        waiting?.promise?.succeed(.proceed)
        #expect(try shell.received().hasPrefix("HTTP/1.1 200"))
        #expect(shell.probe.outcomes == [.completed])
    }

    @Test func garbageAfterPipelinedRequestsIsAnsweredInItsTurn() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(5), clock: { loop.now })
            waiting = stage
            return [stage, RequestInspectionStage(), ModelRoutingStage()]
        })
        // The first request waits; two more and then garbage arrive behind it.
        try shell.send(Self.get + Self.get + "GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n" + "GARBAGE \u{01}\r\n\r\n")
        #expect(try shell.received().isEmpty)
        waiting?.promise?.succeed(.proceed)
        // The second request suspends too (each exchange evaluates the stage); let it go.
        waiting?.promise?.succeed(.proceed)
        let text = try shell.received()
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "200", "404", "400"], "\(text)")
        #expect(shell.probe.outcomes.map(\.label) == ["completed", "completed", "refused", "refused"])
        #expect(!shell.isOpen)
    }

    @Test func aClientClosingMidBodyIsAnAbortNotARefusal() throws {
        let shell = try Shell()
        try shell.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":")
        try shell.channel.close().wait()
        #expect(shell.probe.outcomes == [.clientAborted(.body)])
    }

    @Test func drainingClosesAnIdleConnectionAndAnswersABusyOneWithConnectionClose() throws {
        let idle = try Shell()
        idle.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isOpen)

        var waiting: WaitingStage?
        let busy = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(2), clock: { loop.now })
            waiting = stage
            return [stage, RequestInspectionStage(), ModelRoutingStage()]
        })
        try busy.send(Self.get)
        busy.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.isOpen)
        waiting?.promise?.succeed(.proceed)
        let text = try busy.received()
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.contains("connection: close"))
        #expect(!busy.isOpen)
    }

    @Test func theDrainTimeoutEndsWhatIsLeft() throws {
        var waiting: WaitingStage?
        let shell = try Shell(stages: { loop in
            let stage = WaitingStage(wait: .seconds(60), clock: { loop.now })
            waiting = stage
            return [stage]
        })
        try shell.send(Self.get)
        shell.context.endForDrain()
        #expect(shell.probe.outcomes == [.timedOut(.drain)])
        #expect(waiting?.cancelled == 1)
        #expect(!shell.isOpen)
        waiting?.promise?.succeed(.proceed)
    }
}
