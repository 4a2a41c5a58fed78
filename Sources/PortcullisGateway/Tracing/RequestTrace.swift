import NIOCore
import PortcullisConfig
import PortcullisCore
import Tracing

/// One request's spans: the server span (continuing a client's `traceparent`), a child span
/// per stage run, and a client span for the upstream call, whose context is what the backend
/// receives in `traceparent`. A ledger obligation: when the exchange settles (exactly once,
/// however it ended) it ends whatever is still open and puts the outcome, the tenant and the
/// GenAI attributes on the server span.
///
/// Only made when `tracing:` is configured; with tracing off the request path's only cost is
/// a nil check.
final class RequestTrace: LedgerObligation {
    private let tracer: any Tracer
    private let root: any Span
    private var stage: (any Span)?
    private var upstream: (any Span)?

    init(tracer: any Tracer, exchange: Exchange) {
        self.tracer = tracer
        var context = InstrumentationContext.topLevel
        if let carrier = TraceHeaders.Carrier(exchange.head.headers) {
            tracer.extract(carrier, into: &context, using: TraceHeaders.Extract())
        }
        let root = tracer.startSpan(Self.name(of: exchange), context: context, ofKind: .server)
        root.updateAttributes { attributes in
            attributes["http.request.method"] = exchange.head.method.rawValue
            attributes["url.path"] = exchange.target.path
            attributes["portcullis.request_id"] = exchange.requestID  // the client's x-request-id, when sane
            if let operation = Self.operation(of: exchange.endpoint) { attributes["gen_ai.operation.name"] = operation }
        }
        self.root = root
    }

    /// `METHOD /path` for the fixed OpenAI endpoints; path routes carry their route name once
    /// known (a path may name a model, so the span name stays bounded).
    private static func name(of exchange: Exchange) -> String {
        switch exchange.endpoint {
        case .pathRoute: "\(exchange.head.method.rawValue) \(exchange.route?.name ?? "path route")"
        case .none: exchange.head.method.rawValue
        default: "\(exchange.head.method.rawValue) \(exchange.target.path)"
        }
    }

    private static func operation(of endpoint: EndpointKind) -> String? {
        switch endpoint {
        case .chatCompletions: "chat"
        case .completions: "text_completion"
        case .embeddings: "embeddings"
        default: nil
        }
    }

    // MARK: Stages

    /// A stage starts running (a suspended stage's span ends when the next one starts, or at
    /// the end: its span covers the wait).
    func stageStarted(_ name: String) {
        self.stage?.end()
        self.stage = self.tracer.startSpan("stage \(name)", context: self.root.context, ofKind: .internal)
    }

    /// A suspended stage's wait ended (its result, or the failure that refused the request).
    func stageResumed(_ result: Result<SuspensionResult, any Error>) {
        guard let stage = self.stage else { return }
        switch result {
        case .success(.proceed): stage.attributes["portcullis.stage.result"] = "proceed"
        case .success(.refuse(let error)):
            stage.attributes["portcullis.stage.result"] = "refuse"
            stage.attributes["portcullis.refusal_reason"] = error.reason.rawValue
        case .failure:
            stage.attributes["portcullis.stage.result"] = "failed"
            stage.setStatus(.init(code: .error))
        }
        stage.end()
        self.stage = nil
    }

    func stageEnded(_ result: StageResult) {
        guard let stage = self.stage else { return }
        switch result {
        case .proceed: stage.attributes["portcullis.stage.result"] = "proceed"
        case .refuse(let error):
            stage.attributes["portcullis.stage.result"] = "refuse"
            stage.attributes["portcullis.refusal_reason"] = error.reason.rawValue
        case .suspend: return  // still waiting
        }
        stage.end()
        self.stage = nil
    }

    // MARK: Upstream

    /// An attempt to reach the backend starts (connecting, or on a pooled connection). The
    /// first opens the upstream span, so connect time and failed connects are inside it; later
    /// attempts (retries) stay in it and move its endpoint.
    func upstreamAttempt(_ exchange: Exchange) {
        let backend = exchange.backend?.name ?? "-"
        let span: any Span
        if let upstream = self.upstream {
            span = upstream
        } else {
            span = self.tracer.startSpan("upstream \(backend)", context: self.root.context, ofKind: .client)
            self.upstream = span
        }
        span.updateAttributes { attributes in
            attributes["portcullis.backend"] = backend
            if let endpoint = exchange.upstreamEndpoint {
                attributes["server.address"] = endpoint.host
                attributes["server.port"] = endpoint.port
            }
        }
    }

    /// The trace-context headers for the backend: the upstream span's. Nil when the tracer
    /// gave none (a sampler that drops everything): the client's own then pass through.
    func propagationHeaders() -> [(String, String)]? {
        guard let upstream = self.upstream else { return nil }
        var headers: [(String, String)] = []
        self.tracer.inject(upstream.context, into: &headers, using: TraceHeaders.Inject())
        return headers.isEmpty ? nil : headers
    }

    // MARK: The end

    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.stage?.end()
        self.stage = nil
        let failed: Bool
        switch outcome {
        case .completed, .refused: failed = exchange.status >= 500
        case .clientAborted, .upstreamFailed, .timedOut: failed = true
        }
        if let upstream = self.upstream {
            upstream.updateAttributes { attributes in
                if let status = exchange.upstreamStatus { attributes["http.response.status_code"] = status }
                if exchange.upstreamAttempts > 1 { attributes["portcullis.retries"] = exchange.upstreamAttempts - 1 }
            }
            if exchange.refusal?.category == .upstream || UpstreamErrorKind(outcome, refusal: exchange.refusal) != nil
                || (exchange.upstreamStatus ?? 0) >= 500
            {
                upstream.setStatus(.init(code: .error))
            }
            upstream.end()
        }
        let root = self.root
        if exchange.endpoint == .pathRoute, let route = exchange.route {
            root.operationName = "\(exchange.head.method.rawValue) \(route.name)"
        }
        root.updateAttributes { attributes in
            attributes["http.response.status_code"] = exchange.status
            attributes["portcullis.outcome"] = outcome.label
            if let refusal = exchange.refusal { attributes["portcullis.refusal_reason"] = refusal.rawValue }
            if let identity = exchange.identity {
                attributes["portcullis.tenant"] = identity.tenant
                attributes["portcullis.auth_method"] = identity.method.rawValue
            }
            if let route = exchange.route { attributes["portcullis.route"] = route.name }
            if let model = exchange.request?.model {
                attributes["gen_ai.request.model"] = model.count > 128 ? String(model.prefix(128)) : model
            }
            if let model = exchange.responseModel { attributes["gen_ai.response.model"] = model }
            if let usage = exchange.usage {
                attributes["gen_ai.usage.input_tokens"] = usage.promptTokens
                attributes["gen_ai.usage.output_tokens"] = usage.completionTokens
            }
            if let firstEventAt = exchange.firstEventAt {
                attributes["gen_ai.server.time_to_first_token"] =
                    Double((firstEventAt - exchange.receivedAt).nanoseconds) / 1e9
            }
        }
        if failed { root.setStatus(.init(code: .error)) }
        root.end()
    }
}
