import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// `portcullis explain`: the decision the gateway would make for one request, stage by stage,
/// with no listener and nothing forwarded. It runs the snapshot's own pipeline (the stages
/// `serve` runs, in the same order) on an exchange built from the given head and body, and
/// says who the caller is, which stage allowed or refused it, which route and backend it goes
/// to, which limits apply, and whether an external check would run (it is not called).
///
/// JWKS are fetched as `serve` would (a remote key set is one HTTP request); client
/// certificates cannot be given, so `mtls` is never proven here.
public enum Explainer {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(String, String)]
        /// The body's bytes as given (not repaired: invalid UTF-8 is refused as `serve` would).
        public var body: [UInt8]?
        /// The listener whose authentication policy applies (nil: the first).
        public var listener: String?

        /// The request's head as HTTP/1.1, with a `Host` when none was given.
        var head: HTTPRequestHead {
            let host = self.headers.contains { $0.0.lowercased() == "host" } ? [] : [("host", "explain.local")]
            return HTTPRequestHead(
                version: .http1_1, method: HTTPMethod(rawValue: self.method), uri: self.path, headers: HTTPHeaders(host + self.headers))
        }

        public init(method: String, path: String, headers: [(String, String)], body: [UInt8]?, listener: String? = nil) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
            self.listener = listener
        }
    }

    /// The stage-by-stage account, and whether the request would be refused.
    public struct Result: Sendable {
        public var text: String
        public var refused: Bool
    }

    public static func explain(_ config: ConfigSnapshot, request: Request) async throws -> Result {
        try await OfflinePipeline.run(config, label: "portcullis.explain") { snapshot, context in
            Self.run(snapshot, request: request, context: context)
        }
    }

    private static func run(_ snapshot: GatewaySnapshot, request: Request, context: LoopContext) -> EventLoopFuture<Result> {
        var lines: [String] = []
        let head = request.head
        let facts: RequestHeadCheck.Facts
        switch RequestHeadCheck.check(head, isHTTP2: false, config: snapshot.config) {
        case .accepted(let accepted):
            facts = accepted
            lines.append("request: \(request.method) \(facts.target.pathAndQuery) -> endpoint \(facts.endpoint.rawValue)")
        case .refused(let error, let refused):
            lines.append("request: \(request.method) \(refused.target.pathAndQuery)")
            return context.eventLoop.makeSucceededFuture(Self.refused(lines, by: "head check", error))
        }
        let names = snapshot.config.listeners.map(\.name)
        let listener = request.listener ?? names.first ?? "main"
        guard names.contains(listener) else {
            return context.eventLoop.makeSucceededFuture(
                Result(text: "no listener is named '\(listener)' (listeners: \(names.joined(separator: ", ")))", refused: true))
        }
        let connection = ConnectionState(clientAddress: "127.0.0.1", isTLS: false, isHTTP2: false, listenerName: listener)
        let exchange = Exchange(
            snapshot: snapshot, head: head, target: facts.target, endpoint: facts.endpoint, requestID: "explain",
            receivedAt: .now(), connection: connection, loop: context, route: facts.route)
        if let route = facts.route { lines.append("  routed by path to route '\(route.name)'") }
        lines.append("stages: \(snapshot.pipeline.stageNames.joined(separator: " -> "))")
        var stages = snapshot.pipeline.headStages
        if let body = request.body {
            // The limit `serve` holds the body to while it arrives (the listener's, or a path route's).
            if body.count > facts.bodyLimit {
                return context.eventLoop.makeSucceededFuture(
                    Self.refused(lines, by: "body", .bodyTooLarge(limit: facts.bodyLimit, bodyRead: false)))
            }
            exchange.body = ByteBuffer(bytes: body)
            exchange.requestBytes = body.count
        }
        stages += snapshot.pipeline.bodyStages
        // What the limit stage took (a concurrency slot, a reservation) is handed back: explain
        // runs on a store of its own, so the account shows what a fresh limit leaves.
        return Self.step(stages, at: 0, exchange: exchange, lines: lines).always { _ in
            if exchange.outcome == nil { exchange.settle(.completed) }
        }
    }

    /// Runs stage `index`, waiting on a suspension (a JWKS refetch) as the request path would.
    private static func step(_ stages: [any Stage], at index: Int, exchange: Exchange, lines: [String]) -> EventLoopFuture<Result> {
        var lines = lines
        let loop = exchange.eventLoop
        var index = index
        while index < stages.count {
            let stage = stages[index]
            if stage is ExternalAuthorizationStage, let authorizer = exchange.route?.authorizer {
                let spec = authorizer.spec
                lines.append(
                    "  \(stage.name): would call '\(spec.name)' (\(spec.wireProtocol.rawValue), \(RedactedURL.of(spec.url)), timeout \(spec.timeoutNanos / 1_000_000) ms, fails \(spec.failureMode.rawValue)); not called by explain")
                index += 1
                continue
            }
            switch stage.evaluate(exchange) {
            case .proceed:
                lines.append("  \(stage.name): pass" + Self.detail(after: stage, exchange))
                index += 1
            case .refuse(let error):
                return loop.makeSucceededFuture(Self.refused(lines, by: stage.name, error))
            case .suspend(let suspension):
                lines.append("  \(stage.name): waits (up to the suspension's deadline)")
                let next = index
                let failure = suspension.failureError
                return suspension.future.hop(to: loop).assumeIsolated().flatMap { result -> EventLoopFuture<Result> in
                    switch result {
                    case .proceed: return Self.step(stages, at: next + 1, exchange: exchange, lines: lines)
                    case .refuse(let error): return loop.makeSucceededFuture(Self.refused(lines, by: stages[next].name, error))
                    }
                }.flatMapErrorThrowing { _ in Self.refused(lines, by: stages[next].name, failure) }.nonisolated()
            }
        }
        lines.append(Self.summary(exchange))
        return loop.makeSucceededFuture(Result(text: lines.joined(separator: "\n"), refused: false))
    }

    private static func detail(after stage: any Stage, _ exchange: Exchange) -> String {
        switch stage.name {
        case "authenticate":
            guard let identity = exchange.identity else { return " (no credential; not required here)" }
            return " (tenant '\(identity.tenant)' by \(identity.method.rawValue) '\(identity.credentialName)', plan \(identity.plan.map { "'\($0)'" } ?? "none"), org \(identity.org.map { "'\($0)'" } ?? "none"))"
        case "inspect":
            guard let request = exchange.request else { return "" }
            return " (model '\(request.model)', stream \(request.stream), max tokens \(request.maxTokens.map(String.init) ?? "none"))"
        case "route":
            guard let route = exchange.route else { return "" }
            return " (route '\(route.name)', backend '\(route.backend.name)'\(route.rewriteModel.map { ", model rewritten to '\($0)'" } ?? ""))"
        case "limits(head)", "limits(body)":
            let applied = LimitStage.applicable(exchange, rules: exchange.snapshot.config.limitRules)
            guard (stage.phase == .head) == (exchange.endpoint == .pathRoute), !applied.isEmpty else { return "" }
            let text = applied.map { rule in
                let kind =
                    rule.name == .concurrency
                    ? "at most \(rule.limit) at once"
                    : rule.name.isBudget ? "\(ModelPrice.dollars(rule.limit)) \(rule.name.phrase)" : "\(rule.limit) \(rule.name.phrase)"
                return "\(rule.rule.map { "'\($0)' " } ?? "")\(kind) per \(rule.scope.rawValue)\(rule.shadow ? " (shadow)" : "")\(rule.ceiling ? " (hard ceiling)" : "")"
            }
            var left: [String] = []
            if let requests = exchange.rateLimitHeaders?.requests { left.append("\(requests.remaining) requests") }
            if let tokens = exchange.rateLimitHeaders?.tokens { left.append("\(tokens.remaining) tokens") }
            var priced = ""
            if applied.contains(where: { $0.name.isBudget }) {
                let price = exchange.snapshot.config.prices.price(for: exchange.request?.model)
                priced =
                    price.map {
                        "; priced at \(ModelPrice.dollars(Int($0.inputPerMillion))) in, \(ModelPrice.dollars(Int($0.outputPerMillion))) out per million tokens"
                    } ?? "; the model has no price: it costs nothing against a budget"
            }
            return " (\(text.joined(separator: "; "))\(priced)\(left.isEmpty ? "" : "; left on a fresh counter after this request: " + left.joined(separator: ", ")))"
        case "region(path)", "region(model)":
            return exchange.backend.map { " (backend '\($0.name)' in region '\($0.region ?? "none")')" } ?? ""
        default:
            return ""
        }
    }

    private static func summary(_ exchange: Exchange) -> String {
        var lines: [String] = []
        if let backend = exchange.backend {
            let endpoints = backend.endpoints.map(\.description).joined(separator: ", ")
            lines.append("decision: forward to backend '\(backend.name)' (\(endpoints))")
        } else {
            lines.append("decision: answered by the gateway itself (\(exchange.endpoint.rawValue))")
        }
        if let plan = exchange.plan {
            let header = plan.limitsHeader.isEmpty ? "none" : plan.limitsHeader
            lines.append("limits: plan '\(plan.name)'\(plan.tenant.map { " with tenant '\($0)' overrides" } ?? ""): \(header)")
            let store = exchange.snapshot.config.source.limitStore.redis.map { "shared in Redis at \($0.host):\($0.port)" } ?? "in memory, per gateway process"
            lines.append("  all enforced (\(store); explain reads no counter), except those marked shadow")
        } else {
            lines.append("limits: none (no plan)")
        }
        if let body = exchange.body, body.readableBytes != exchange.requestBytes {
            lines.append(
                "body: forwarded as \(body.readableBytes) bytes (\(exchange.requestBytes) received): edited by the route's model rewrite or the plan's default token cap")
        }
        return lines.joined(separator: "\n")
    }

    private static func refused(_ lines: [String], by stage: String, _ error: GatewayError) -> Result {
        let text = (lines + [
            "  \(stage): REFUSED",
            "decision: \(error.status) \(error.code)\(error.param.map { " (param \($0))" } ?? "") [\(error.reason.category.rawValue)]: \(error.message)",
        ]).joined(separator: "\n")
        return Result(text: text, refused: true)
    }
}
