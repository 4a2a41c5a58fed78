import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// `portcullis bench-stages`: the CPU each stage of a snapshot's pipeline costs for one
/// request, run in-process on one event loop with no socket, so the figure is not drowned in
/// the kernel's and the load generator's noise (a wrk round over loopback swings by ±20% on a
/// 2-core machine; issue 8's 5 µs budget is smaller than that). It is a benchmark, run by
/// hand or under `valgrind --tool=callgrind`, never a timed test.
///
/// Each iteration builds a fresh ``Exchange`` from the same head and body (the body buffer is
/// shared, as a received one would be, until a stage copies it), runs the head stages and
/// then the body stages exactly as ``StageRunner`` does, and settles the exchange, so what the
/// limit stages register runs too. With `perStage`, the clock is read around every stage and
/// the cost of a clock read (calibrated first) is taken off each figure.
public enum StageBenchmark {
    public struct Report: Sendable {
        public struct Line: Sendable {
            public var stage: String
            /// Authentication and limits are their own budgets; the rest is validation and policy.
            public var part: Part
            public var nanos: Double
        }

        public enum Part: String, Sendable {
            case authentication, limits, validationAndPolicy = "validation and policy", externalCheck = "external check"
        }

        public var iterations: Int
        /// Nanoseconds per iteration, exchange construction and settlement included.
        public var totalNanos: Double
        /// Per stage, when measured (nanoseconds per request, the clock's own cost taken off).
        public var stages: [Line]
        public var clockNanos: Double
        public var bodyBytes: Int
        public var forwardedBytes: Int

        public var text: String {
            var lines = ["body: \(self.bodyBytes) bytes (forwarded as \(self.forwardedBytes))", "iterations: \(self.iterations)"]
            if !self.stages.isEmpty {
                lines.append("per stage, ns per request (clock read \(String(format: "%.1f", self.clockNanos)) ns taken off):")
                for line in self.stages {
                    lines.append("  \(line.stage.padding(toLength: 14, withPad: " ", startingAt: 0)) \(String(format: "%8.1f", line.nanos))  \(line.part.rawValue)")
                }
                for part in [Part.authentication, .validationAndPolicy, .limits, .externalCheck] {
                    let sum = self.stages.filter { $0.part == part }.reduce(0) { $0 + $1.nanos }
                    if self.stages.contains(where: { $0.part == part }) {
                        lines.append("  = \(part.rawValue): \(String(format: "%.1f", sum)) ns")
                    }
                }
            }
            lines.append("whole iteration (exchange built, stages run, ledger settled): \(String(format: "%.1f", self.totalNanos)) ns")
            return lines.joined(separator: "\n")
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case refused(stage: String, GatewayError)
        case suspended(stage: String)
        case headRefused(GatewayError)

        public var description: String {
            switch self {
            case .refused(let stage, let error):
                "the request is refused by '\(stage)' (\(error.status) \(error.code)); benchmark a request the config forwards"
                    + (error.reason.category == .rateLimit ? " (limits count across the iterations, as they would in `serve`: raise them for the benchmark)" : "")
            case .suspended(let stage): "'\(stage)' suspends (a JWKS fetch, an external check, a shared store); benchmark a config whose stages decide from memory"
            case .headRefused(let error): "the head check refuses the request (\(error.status) \(error.code))"
            }
        }
    }

    public static func run(_ config: ConfigSnapshot, request: Explainer.Request, iterations: Int, perStage: Bool) async throws -> Report {
        try await OfflinePipeline.run(config, label: "portcullis.bench") { snapshot, context in
            context.eventLoop.makeSucceededFuture(
                try Self.measure(snapshot, request: request, context: context, iterations: iterations, perStage: perStage))
        }
    }

    private static func measure(
        _ snapshot: GatewaySnapshot, request: Explainer.Request, context: LoopContext, iterations: Int, perStage: Bool
    ) throws -> Report {
        let head = request.head
        let facts: RequestHeadCheck.Facts
        switch RequestHeadCheck.check(head, isHTTP2: false, config: snapshot.config) {
        case .accepted(let accepted): facts = accepted
        case .refused(let error, _): throw Failure.headRefused(error)
        }
        let listener = request.listener ?? snapshot.config.listeners.first?.name ?? "main"
        let connection = ConnectionState(clientAddress: "127.0.0.1", isTLS: false, isHTTP2: false, listenerName: listener)
        let body = request.body.map { ByteBuffer(bytes: $0) }
        // The limit `serve` holds the body to while it arrives (the listener's, or a path route's).
        if let body, body.readableBytes > facts.bodyLimit {
            throw Failure.refused(stage: "body", .bodyTooLarge(limit: facts.bodyLimit, bodyRead: false))
        }
        let stages = snapshot.pipeline.headStages + (body == nil ? [] : snapshot.pipeline.bodyStages)
        var spent = [UInt64](repeating: 0, count: stages.count)
        var forwardedBytes = 0

        func once(timed: Bool) throws {
            let exchange = Exchange(
                snapshot: snapshot, head: head, target: facts.target, endpoint: facts.endpoint, requestID: "bench",
                receivedAt: .now(), connection: connection, loop: context, route: facts.route)
            exchange.registerStandardObligations(traced: false)
            defer { exchange.settle(.completed) }
            for index in stages.indices {
                if index == snapshot.pipeline.headStages.count, let body {
                    exchange.body = body
                    exchange.requestBytes = body.readableBytes
                }
                let start = timed ? NIODeadline.now().uptimeNanoseconds : 0
                let result = stages[index].evaluate(exchange)
                if timed { spent[index] &+= NIODeadline.now().uptimeNanoseconds &- start }
                switch result {
                case .proceed: continue
                case .refuse(let error): throw Failure.refused(stage: stages[index].name, error)
                case .suspend: throw Failure.suspended(stage: stages[index].name)
                }
            }
            exchange.status = 200
            forwardedBytes = exchange.body?.readableBytes ?? 0
        }

        // Warm up (caches, branch predictors, lazily built tables), then the untimed run that
        // gives the whole-iteration figure, then the per-stage run.
        for _ in 0..<min(iterations, 1000) { try once(timed: false) }
        let start = NIODeadline.now().uptimeNanoseconds
        for _ in 0..<iterations { try once(timed: false) }
        let total = Double(NIODeadline.now().uptimeNanoseconds - start) / Double(iterations)
        var lines: [Report.Line] = []
        var clock = 0.0
        if perStage {
            let calibration = 100_000
            let clockStart = NIODeadline.now().uptimeNanoseconds
            var sink: UInt64 = 0
            for _ in 0..<calibration { sink &+= NIODeadline.now().uptimeNanoseconds }
            clock = Double(NIODeadline.now().uptimeNanoseconds - clockStart) / Double(calibration)
            precondition(sink != 0)  // uses the reads, so they are not optimised away
            for _ in 0..<iterations { try once(timed: true) }
            for (index, stage) in stages.enumerated() {
                lines.append(.init(stage: stage.name, part: Self.part(of: stage), nanos: max(0, Double(spent[index]) / Double(iterations) - clock)))
            }
        }
        return Report(
            iterations: iterations, totalNanos: total, stages: lines, clockNanos: clock, bodyBytes: body?.readableBytes ?? 0,
            forwardedBytes: forwardedBytes)
    }

    private static func part(of stage: any Stage) -> Report.Part {
        switch stage {
        case is AuthenticationStage, is RouteAuthenticationStage: .authentication
        case is LimitStage: .limits
        case is ExternalAuthorizationStage: .externalCheck
        default: .validationAndPolicy
        }
    }
}
