import AsyncHTTPClient
import NIOCore
import PortcullisConfig
import PortcullisCore

/// Asks the route's external authorization service (``ExternalAuthorizer``), last among the
/// body stages: every local check has passed, so a request the gateway refuses itself never
/// costs a call. A bounded, cancellable suspension: the call has the service's `timeout`
/// (AsyncHTTPClient's deadline), the suspension a little more as a backstop, and a client that
/// leaves cancels the call. The answer is settled by ``AuthorizationDecision``.
struct ExternalAuthorizationStage: Stage {
    let client: HTTPClient?
    /// The gRPC transport (PortcullisAuthz) for services of `protocol: grpc`.
    var grpc: (any GRPCCheckTransport)? = nil
    var name: String { "ext-authz" }
    var phase: StagePhase { .body }

    /// Past the service's own timeout, the suspension's deadline (refused closed if reached).
    static let backstop: TimeAmount = .milliseconds(100)

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard let authorizer = exchange.route?.authorizer else { return .proceed }
        let spec = authorizer.spec
        let closed = GatewayError.authorizationFailed(status: spec.statusOnError)
        if spec.wireProtocol == .grpc { return self.evaluateGRPC(exchange, authorizer: authorizer, closed: closed) }
        guard let client = self.client, let request = try? AuthorizationCheck.request(for: exchange, authorizer: authorizer) else {
            return Self.settle(.failed(.unbuildable), exchange: exchange, spec: spec).asStageResult
        }
        let loop = exchange.eventLoop
        let deadline = NIODeadline.now() + .nanoseconds(authorizer.timeout)
        let task = client.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: AuthorizationDecision.maxAnswerBytes),
            eventLoop: .delegateAndChannel(on: loop), deadline: deadline)
        let decided = task.futureResult.hop(to: loop).assumeIsolated().map { response -> SuspensionResult in
            let decision: AuthorizationDecision =
                switch spec.wireProtocol {
                case .envoy:
                    AuthorizationDecision.envoy(
                        status: Int(response.status.code), headers: response.headers, body: response.body, authorizer: authorizer)
                case .opa, .grpc:
                    AuthorizationDecision.opa(status: Int(response.status.code), body: response.body, authorizer: authorizer)
                }
            return Self.settle(decision, exchange: exchange, spec: spec)
        }.flatMapErrorThrowing { error -> SuspensionResult in
            let timedOut = (error as? HTTPClientError).map { [.deadlineExceeded, .readTimeout, .connectTimeout].contains($0) } ?? false
            let failure: AuthorizationDecision.Failure =
                timedOut ? .timeout : error is ResponseAccumulator.ResponseTooBigError ? .oversized : .unreachable
            return Self.settle(.failed(failure), exchange: exchange, spec: spec)
        }.nonisolated()
        return .suspend(
            Suspension(
                future: decided, deadline: deadline + Self.backstop, stage: self.name, timeoutError: closed, failureError: closed,
                cancel: { task.cancel() }))
    }

    /// The gRPC contract: the call has the service's `timeout` (the call's own deadline), the
    /// suspension the same backstop, and a client that leaves cancels the call.
    private func evaluateGRPC(_ exchange: Exchange, authorizer: ExternalAuthorizer, closed: GatewayError) -> StageResult {
        let spec = authorizer.spec
        guard let grpc = self.grpc else {
            return Self.settle(.failed(.unbuildable), exchange: exchange, spec: spec).asStageResult
        }
        let loop = exchange.eventLoop
        let timeout = TimeAmount.nanoseconds(authorizer.timeout)
        let pending = grpc.check(AuthorizationCheck.grpcCall(for: exchange, authorizer: authorizer), endpoint: authorizer.endpoint, timeout: timeout, on: loop)
        let decided = pending.answer.hop(to: loop).assumeIsolated().map { answer in
            Self.settle(AuthorizationDecision.grpc(answer, authorizer: authorizer), exchange: exchange, spec: spec)
        }.nonisolated()
        return .suspend(
            Suspension(
                future: decided, deadline: .now() + timeout + Self.backstop, stage: self.name, timeoutError: closed,
                failureError: closed, cancel: pending.cancel))
    }

    /// Records what the decision sets on the exchange (upstream headers, the fail-open
    /// marker) and returns what the request path does next.
    static func settle(_ decision: AuthorizationDecision, exchange: Exchange, spec: ExternalAuthorizationSpec) -> SuspensionResult {
        switch decision {
        case .allow(let headers, let removed):
            exchange.authorizationHeaders = headers.filter { !$0.append }.map { ($0.name, $0.value) }
            exchange.authorizationAppended = headers.filter(\.append).map { ($0.name, $0.value) }
            exchange.authorizationRemoved = removed
        case .failed where spec.failureMode == .open: exchange.authorizationSkipped = true
        default: break
        }
        return decision.outcome(failureMode: spec.failureMode, statusOnError: spec.statusOnError)
    }
}

extension SuspensionResult {
    var asStageResult: StageResult {
        switch self {
        case .proceed: .proceed
        case .refuse(let error): .refuse(error)
        }
    }
}
