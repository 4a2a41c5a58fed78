import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// One ext_authz check: the gateway's own stages, from the current snapshot, on an exchange
/// built from a ``CheckInput``, ending in a ``CheckVerdict`` instead of a forward. Everything
/// the request path does before its first upstream byte happens here the same way: the head
/// check, authentication (the certificate Envoy verified stands in for the TLS handshake),
/// tenant policy, validation of the body Envoy sent, limits (held past the check as leases,
/// ``CheckLease``), a nested external check, and the standard obligations (access log and
/// metrics, labelled `mode=authz`).
///
/// Waits are bounded as on the request path: each suspension has its deadline (its
/// `timeoutError` when passed, its cancel hook called), and Envoy giving up (``cancel()``)
/// abandons the wait and ends the exchange as the client's leaving. Lives on one event loop.
final class CheckRun {
    let exchange: Exchange
    private let promise: EventLoopPromise<CheckVerdict>
    private let stages: [any Stage]
    private var finished = false
    /// Bumped by every wait and every ending, so a late result or timer is recognised as stale.
    private var token = 0
    private var waitCancel: (@Sendable () -> Void)?
    private var timer: Scheduled<Void>?

    var future: EventLoopFuture<CheckVerdict> { self.promise.futureResult }

    private init(exchange: Exchange, promise: EventLoopPromise<CheckVerdict>) {
        self.exchange = exchange
        self.promise = promise
        self.stages = exchange.snapshot.pipeline.headStages + exchange.snapshot.pipeline.bodyStages
    }

    /// Starts a check on `context`'s loop (the caller is on it).
    static func start(_ input: CheckInput, context: LoopContext, leases: CheckLeases, listener: String?) -> CheckRun {
        let snapshot = context.snapshot()
        var fields: [(String, String)] = []
        fields.reserveCapacity(input.headers.count + 1)
        for (name, value) in input.headers where !name.hasPrefix(":") { fields.append((name, value)) }
        if !fields.contains(where: { $0.0 == "host" }) { fields.append(("host", input.host)) }
        let isHTTP2 = input.protocolName.hasPrefix("HTTP/2")
        let head = HTTPRequestHead(
            version: isHTTP2 ? .http2 : .http1_1, method: HTTPMethod(rawValue: input.method), uri: input.path,
            headers: HTTPHeaders(fields))
        // Envoy has already read the framing: the head is checked as HTTP/2's would be (no
        // transfer-coding rules), for everything else the same as on a listener.
        let check = RequestHeadCheck.check(head, isHTTP2: true, config: snapshot.config)
        let facts: RequestHeadCheck.Facts
        let refusal: GatewayError?
        switch check {
        case .accepted(let accepted): (facts, refusal) = (accepted, nil)
        case .refused(let error, let partial): (facts, refusal) = (partial, error)
        }
        let connection = ConnectionState(
            clientAddress: input.sourceAddress, isTLS: input.scheme == "https", isHTTP2: isHTTP2,
            listenerName: listener ?? snapshot.config.listeners.first?.name ?? "main", mode: .authz)
        connection.setClientCertificate(input.certificatePEM.flatMap(ClientCertificateIdentity.init(pem:)))
        let exchange = Exchange(
            snapshot: snapshot, head: head, target: facts.target, endpoint: facts.endpoint,
            requestID: Self.requestID(facts.clientRequestID, leases: leases, context: context), receivedAt: context.now(), connection: connection,
            loop: context, route: facts.route)
        exchange.bodyLimit = facts.bodyLimit
        exchange.checkLeases = leases
        exchange.registerStandardObligations(traced: false)
        let run = CheckRun(exchange: exchange, promise: context.eventLoop.makePromise(of: CheckVerdict.self))
        if let refusal {
            run.refuse(refusal)
            return run
        }
        if let body = input.body, body.readableBytes > 0 {
            exchange.requestBytes = body.readableBytes
            // A body Envoy cut is not the request: it cannot be validated, so it is refused as too large.
            if input.partialBody || body.readableBytes > exchange.bodyLimit {
                run.refuse(.bodyTooLarge(limit: exchange.bodyLimit, bodyRead: true))
                return run
            }
            exchange.body = body
        }
        run.step(from: 0)
        return run
    }

    /// The id the check sets upstream and its lease is reported by: Envoy's (or its client's)
    /// unless a lease already holds that one (a client reusing an id must not reach another
    /// request's lease), else the gateway's own.
    private static func requestID(_ sent: String?, leases: CheckLeases, context: LoopContext) -> String {
        if let sent, !leases.holds(sent) { return sent }
        return context.requestIDs.next()
    }

    /// Envoy gave up on the check (its timeout, or its client left). Once the answer is out it
    /// is too late: if Envoy dropped an allow it had asked for, the lease runs its time.
    func cancel() {
        guard !self.finished else { return }
        self.endWait()
        self.finished = true
        self.exchange.status = 499
        self.promise.succeed(.answer(status: 499, headers: [], body: ""))
        self.exchange.settle(.clientAborted(.headStages))
    }

    private func step(from start: Int) {
        switch StageRunner.run(self.stages, from: start, on: self.exchange) {
        case .passed:
            self.dispatch()
        case .refused(let error):
            self.refuse(error)
        case .suspended(let index, let suspension):
            self.token += 1
            let token = self.token
            self.waitCancel = suspension.cancel
            let loop = self.exchange.eventLoop.assumeIsolated()
            self.timer = loop.scheduleTask(deadline: suspension.deadline) { [self] in
                guard self.token == token else { return }
                self.endWait()
                self.refuse(suspension.timeoutError)
            }
            suspension.future.hop(to: self.exchange.eventLoop).assumeIsolated().whenComplete { [self] result in
                guard self.token == token, !self.finished else { return }
                self.timer?.cancel()
                self.timer = nil
                self.waitCancel = nil
                switch result {
                case .success(.proceed): self.step(from: index + 1)
                case .success(.refuse(let error)): self.refuse(error)
                case .failure: self.refuse(suspension.failureError)
                }
            }
        }
    }

    /// Abandons the wait in progress, if any (its hook told, its timer stopped).
    private func endWait() {
        self.token += 1
        self.timer?.cancel()
        self.timer = nil
        let cancel = self.waitCancel
        self.waitCancel = nil
        cancel?()
    }

    /// Every stage passed: a local answer, or an allow with the trusted headers.
    private func dispatch() {
        let exchange = self.exchange
        switch exchange.endpoint {
        case .models:
            self.answerLocally(exchange.snapshot.config.modelListBody(for: exchange.plan))
        case .model:
            let name = String(exchange.target.path.dropFirst(EndpointKind.modelPrefix.count))
            if let body = exchange.snapshot.config.modelBody(name, plan: exchange.plan) {
                self.answerLocally(body)
            } else {
                self.refuse(.modelNotFound(name))
            }
        case .chatCompletions, .completions, .embeddings, .pathRoute:
            self.allow()
        case .none:
            self.refuse(.internalError)
        }
    }

    private func answerLocally(_ body: ByteBuffer) {
        self.finished = true
        self.exchange.status = 200
        self.exchange.responseBytes = body.readableBytes
        self.promise.succeed(
            .answer(
                status: 200, headers: [.init("content-type", "application/json")],
                body: String(decoding: body.readableBytesView, as: UTF8.self)))
        self.exchange.settle(.completed)
    }

    private func allow() {
        let exchange = self.exchange
        if exchange.needsLease, let leases = exchange.checkLeases, leases.isFull {
            self.refuse(.leasesExhausted)
            return
        }
        // From here the request is Envoy's to forward: a lease settles what the limits hold.
        exchange.forwardedAt = exchange.loop.now()
        exchange.status = 200
        let set = CheckHeaders.trusted(exchange)
        let append = exchange.authorizationAppended.map { CheckVerdict.Header($0.0, $0.1) }
        let remove = CheckHeaders.removed(exchange, setting: set, appending: append)
        var response: [CheckVerdict.Header] = []
        exchange.rateLimitHeaders?.forEach { response.append(.init($0, $1)) }
        self.finished = true
        // Settled first, so the lease is held before Envoy can forward and report.
        self.exchange.settle(.completed)
        self.promise.succeed(.allow(set: set, append: append, remove: remove, responseHeaders: response))
    }

    private func refuse(_ error: GatewayError) {
        guard !self.finished else { return }
        self.finished = true
        let exchange = self.exchange
        exchange.status = error.status
        exchange.refusal = error.reason
        if exchange.authFailure == nil { exchange.authFailure = error.authFailure }
        var headers = error.headers.map { CheckVerdict.Header($0.0, $0.1) }
        if !headers.contains(where: { $0.name == "content-type" }) { headers.append(.init("content-type", "application/json")) }
        exchange.rateLimitHeaders?.forEach { headers.append(.init($0, $1)) }
        let body = error.renderBody()
        exchange.responseBytes = body.readableBytes
        self.promise.succeed(.answer(status: error.status, headers: headers, body: String(decoding: body.readableBytesView, as: UTF8.self)))
        exchange.settle(.refused(error.reason))
    }
}
