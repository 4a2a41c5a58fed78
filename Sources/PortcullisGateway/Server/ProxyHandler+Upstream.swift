import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// Forwarding: borrowing or opening an upstream connection, sending the request, and relaying
/// the response part by part with the SSE and usage scanners watching the bytes go by.
extension ProxyHandler {
    func connect(_ token: LifecycleStateMachine.AttemptToken, fresh: Bool) {
        guard let exchange = self.exchange, let backend = exchange.backend else { return }
        let snapshot = exchange.snapshot
        let runtime = snapshot.runtime(of: backend)
        let now = self.now()
        let endpoint: UpstreamEndpoint
        if fresh, let previous = exchange.upstreamEndpoint {
            endpoint = previous
        } else {
            guard
                let index = self.loop.nextEndpoint(
                    of: backend, runtime: runtime, attempt: token.attempt, first: exchange.firstEndpointIndex,
                    slot: snapshot.slot(of: backend), now: now)
            else {
                // Every endpoint left the rotation since dispatch (ejected, or failing its checks).
                runtime.state.unavailable.wrappingIncrement(ordering: .relaxed)
                self.perform(self.machine.respond(.noHealthyUpstream, now: now))
                return
            }
            endpoint = backend.endpoints[index]
            exchange.upstreamEndpointIndex = index
            if token.attempt == 0 { exchange.firstEndpointIndex = index }
        }
        exchange.upstreamEndpoint = endpoint
        let endpointState = runtime.endpoints[exchange.upstreamEndpointIndex]
        if self.loadedEndpoint !== endpointState {
            // This attempt's load moves to its endpoint (least-request balancing, `/backends`).
            self.loadedEndpoint?.inFlight.wrappingDecrement(ordering: .relaxed)
            endpointState.inFlight.wrappingIncrement(ordering: .relaxed)
            self.loadedEndpoint = endpointState
        }
        exchange.upstreamAttempts += 1
        exchange.trace?.upstreamAttempt(exchange)
        if backend.http2 {
            self.connectHTTP2(token, endpoint: endpoint, backend: backend, runtime: runtime, now: now)
            return
        }
        if !fresh, let connection = self.loop.pool.takeIdle(endpoint, now: now, keepAlive: backend.keepAliveTimeout) {
            self.send(token, on: connection)
            return
        }
        if runtime.state.beginConnect(backend.circuitBreaker) != nil {
            // Too many connections to the backend, or too many being opened: no queue.
            self.overloadedAtConnect(token, backend: backend, exchange: exchange, now: now)
            return
        }
        let slot = ConnectionSlot(runtime.state)
        let connectTimeout = exchange.route?.connectTimeout ?? backend.connectTimeout
        self.machine.connectStarted(token, now: now, connectTimeout: connectTimeout)
        self.armTimer()
        let endpointIndex = exchange.upstreamEndpointIndex
        self.loop.pool.connect(endpoint, backend: backend, timeout: connectTimeout, slot: slot).assumeIsolated().whenComplete {
            result in
            runtime.state.endConnect()
            switch result {
            case .success(let connection):
                self.send(token, on: connection)
            case .failure(let error):
                slot.release()
                self.connectFailed(token, error: error, exchange: exchange, endpointIndex: endpointIndex)
            }
        }
    }

    /// An attempt's connect failed (or timed out): counted for the exchange and endpoint it was
    /// for, whatever happened since (unless `counted` is false: another attempt's connect, which
    /// that attempt counts once); then a retry, or the machine's answer.
    func connectFailed(
        _ token: LifecycleStateMachine.AttemptToken, error: any Error, exchange: Exchange, endpointIndex: Int, counted: Bool = true
    ) {
        guard let backend = exchange.backend else { return }
        let runtime = exchange.snapshot.runtime(of: backend)
        var timedOut = false
        if let channelError = error as? ChannelError, case .connectTimeout = channelError { timedOut = true }
        if counted {
            self.loop.metrics.connectFailed(exchange, endpointIndex: endpointIndex, timedOut: timedOut)
            _ = runtime.recordFailure(of: endpointIndex, backend: backend, now: self.now())
        }
        guard self.machine.isCurrent(token), exchange === self.exchange else { return }
        if !self.retryIfAllowed(after: .connectFailure, exchange: exchange, backend: backend) {
            self.perform(self.machine.connectFailed(token, timedOut: timedOut, now: self.now()))
        }
    }

    func send(_ token: LifecycleStateMachine.AttemptToken, on connection: UpstreamConnection) {
        guard let exchange = self.exchange, let backend = exchange.backend,
            self.machine.requestSent(
                token, now: self.now(), responseTimeout: exchange.route?.responseTimeout ?? backend.responseTimeout,
                idleTimeout: exchange.route?.idleTimeout ?? backend.idleTimeout)
        else {
            // The attempt was abandoned (client gone, timed out): keep the connection for someone else.
            self.loop.pool.release(connection)
            return
        }
        self.upstream = connection
        exchange.forwardedAt = exchange.forwardedAt ?? self.now()
        self.armTimer()
        // Room for the head and, when it is small, the body behind it (one write).
        let bodyBytes = exchange.body?.readableBytes ?? 0
        var head = self.context.channel.allocator.buffer(
            capacity: 1024 + (bodyBytes <= UpstreamConnection.coalesceLimit ? bodyBytes : 0))
        let traceHeaders = exchange.trace?.propagationHeaders()
        UpstreamRequestHead.write(exchange, endpoint: exchange.upstreamEndpoint!, traceHeaders: traceHeaders, into: &head)
        connection.send(head: head, body: exchange.body, isHEAD: exchange.head.method == .HEAD, delegate: self)
    }

    /// The ledger obligation the forwarder registers: the upstream connection never outlives
    /// the exchange (it returns itself to the pool when its response ends; anything else drops it).
    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.holdsUpstreamObligation = false
        // The breaker's request slot and the retry budget's slot go back with the exchange.
        if let admitted = self.admitted {
            self.admitted = nil
            admitted.releaseRequest()
        }
        if let retrying = self.retrying {
            self.retrying = nil
            retrying.releaseRetry()
        }
        if let loaded = self.loadedEndpoint {
            self.loadedEndpoint = nil
            loaded.inFlight.wrappingDecrement(ordering: .relaxed)
        }
        guard exchange === self.exchange, let upstream = self.upstream else { return }
        self.upstream = nil
        upstream.abandon()
    }

    // MARK: UpstreamResponseDelegate

    func upstreamResponseHead(_ received: UpstreamResponseHead) {
        guard let exchange = self.exchange else { return }
        // An upstream batch of reads begins (it ends at `upstreamReadComplete` or the end).
        if self.batchNow == nil { self.batchNow = self.loop.now() }
        let now = self.now()
        var head = received
        if let backend = exchange.backend {
            // Passive outlier detection: a 5xx answer counts against the endpoint, anything else for it.
            let runtime = exchange.snapshot.runtime(of: backend)
            if head.status >= 500 {
                _ = runtime.recordFailure(of: exchange.upstreamEndpointIndex, backend: backend, now: now)
                if self.retryIfAllowed(after: .status(head.status), exchange: exchange, backend: backend) { return }
            } else {
                runtime.endpoints[exchange.upstreamEndpointIndex].recordSuccess()
            }
        }
        if let credential = exchange.backend?.credential, head.status >= 400 {
            if head.status == 401 || head.status == 403 {
                // The backend refused the gateway's own credential: not the client's fault, and
                // its body (which may quote the credential) is dropped with the connection.
                exchange.upstreamStatus = head.status
                self.perform(self.machine.upstreamHeadRefused(.upstreamAuthFailed, now: now))
                return
            }
            if let coding = head.value(of: "content-encoding"), coding.lowercased() != "identity" {
                // Asked for `identity`, it compressed anyway: the body cannot be scrubbed, so it does not pass.
                exchange.upstreamStatus = head.status
                self.perform(self.machine.upstreamHeadRefused(.upstreamProtocolError, now: now))
                return
            }
            // Other error answers pass through, the credential masked wherever it is echoed.
            head.mask(credential.forms)
            self.scrubber = CredentialScrubber(forms: credential.forms)
        }
        if ClientResponseHead.closesForHTTP10(head, clientVersion: exchange.head.version) { self.machine.closeAfterResponse() }
        // Keep-alive comments only go into an event stream whose length is open: inserted into one
        // with a Content-Length they would push the backend's last bytes past the body's end.
        let openEventStream = head.body == .eventStream && !head.hasContentLength
        exchange.upstreamStatus = head.status
        guard case .writeResponseHead(let closeAfter) = self.machine.upstreamResponseHead(now: now, isEventStream: openEventStream)
        else { return }
        switch head.body {
        case .eventStream:
            self.sse = SSEScanner()
            // Only from a stream of open length: taking bytes out of one with a Content-Length
            // would break its framing (it then keeps its usage chunk).
            if exchange.hidesUsageChunk && openEventStream { self.usageFilter = UsageChunkFilter() }
        case .json: self.usageScanner = UsageScanner()
        case .other: break
        }
        if exchange.countsGeneratedText && head.body != .other { self.textCounter = GeneratedTextCounter() }
        // Only an open event stream can be cut off and still end cleanly.
        if openEventStream && self.textCounter != nil && exchange.head.method != .HEAD { self.ceiling = exchange.ceilingTicket }
        exchange.status = head.status
        // No retry can follow a response head: the request body goes, and with it the client's
        // read buffer it may be a slice of (an idle stream then holds no request bytes).
        exchange.body = nil
        self.lastRead = now
        if self.isHTTP2 {
            let bodyless = head.framing == .none || exchange.head.method == .HEAD
            self.writeToClient(.http2Head(ClientResponseHead.forwardedHTTP2(head, exchange: exchange), bodyless ? .none : .asIs))
        } else {
            // HTTP/1: the upstream's header lines are copied as bytes, not decoded and re-encoded.
            var bytes = self.context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 160)
            let framing = ClientResponseHead.encodeForwarded(head, exchange: exchange, closeConnection: closeAfter, into: &bytes)
            self.writeToClient(.encodedHead(bytes, framing))
        }
        self.pendingFlush = true
        self.armTimer()
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard let exchange = self.exchange else { return }
        if self.batchNow == nil { self.batchNow = self.loop.now() }
        let now = self.now()
        self.lastRead = now
        self.machine.upstreamBodyPart(now: now)
        // A stream held to a hard ceiling counts its text first: a read that would pass one is not delivered.
        var buffer = buffer
        if self.scrubber != nil {
            buffer = self.scrubber!.scrub(buffer)
            if buffer.readableBytes == 0 { return }  // all held back: an empty part would end a chunked body
        }
        let watched = self.ceiling != nil
        if watched && self.holdToCeiling(buffer, exchange: exchange, now: now) { return }
        exchange.responseBytes += buffer.readableBytes
        if self.sse != nil {
            buffer.withUnsafeReadableBytes { self.sse!.feed($0) }
            if exchange.firstEventAt == nil && self.sse!.eventCount > 0 { exchange.firstEventAt = now }
        } else if self.usageScanner != nil {
            buffer.withUnsafeReadableBytes { self.usageScanner!.feed($0) }
        }
        if self.textCounter != nil && !watched && (self.sse != nil || !self.heldText.hold(buffer, counter: &self.textCounter!)) {
            buffer.withUnsafeReadableBytes { self.textCounter!.feed($0) }
        }
        if self.usageFilter != nil {
            var parts: [ByteBuffer] = []
            self.usageFilter!.feed(buffer, into: &parts)
            for part in parts { self.writeToClient(.body(part)) }
        } else {
            self.writeToClient(.body(buffer))
        }
        self.pendingFlush = true
        if !self.context.channel.isWritable {
            self.perform(self.machine.clientWritabilityChanged(writable: false, now: now))
        }
    }

    func upstreamReadComplete() {
        if !self.readBatch { self.batchNow = nil }
        guard self.pendingFlush, let context = self.context else { return }
        self.pendingFlush = false
        self.machine.clientFlushed(now: self.lastRead)
        context.flush()
    }

    func upstreamResponseEnd() {
        if self.batchNow == nil { self.batchNow = self.loop.now() }
        defer { if !self.readBatch { self.batchNow = nil } }
        if let rest = self.scrubber?.finish() {
            // The tail held back in case it began the credential: the body ended, so it did not.
            self.scrubber = nil
            self.upstreamResponseBody(rest)
        }
        self.captureUsage()
        if let rest = self.usageFilter?.finish() { self.writeToClient(.body(rest)) }
        self.upstream = nil  // the connection returns itself to the pool
        self.pendingFlush = false
        self.perform(self.machine.upstreamResponseEnded(now: self.now()))
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        defer { if !self.readBatch { self.batchNow = nil } }
        self.upstream = nil
        switch failure {
        case .closedBeforeResponse(retryable: true), .refusedUnprocessed:
            // The keep-alive race, or a stream refused unprocessed: the endpoint did nothing wrong.
            break
        default:
            // It took the request and went away, or broke its answer.
            self.recordEndpointFailure()
        }
        self.captureUsage()
        // Through the usage filter the client only ever has whole events (a partial one is held there).
        let atBoundary = self.usageFilter != nil || (self.sse?.atEventBoundary ?? false)
        self.perform(self.machine.upstreamFailed(failure, now: self.now(), atEventBoundary: atBoundary))
    }

    /// The current attempt's endpoint failed (for outlier detection).
    func recordEndpointFailure() {
        guard let exchange = self.exchange, let backend = exchange.backend, exchange.upstreamEndpoint != nil else { return }
        _ = exchange.snapshot.runtime(of: backend).recordFailure(of: exchange.upstreamEndpointIndex, backend: backend, now: self.now())
    }

    /// Usage the scanners saw so far goes to the exchange, also when the stream broke or the
    /// client left: the ledger's obligations (settling token quotas later) must not lose it.
    func captureUsage() {
        guard let exchange = self.exchange, exchange.outcome == nil else { return }
        if let usage = self.sse?.usage ?? self.usageScanner?.usage { exchange.usage = usage }
        if let model = self.sse?.model ?? self.usageScanner?.model { exchange.responseModel = model }
        if self.textCounter != nil {
            // A JSON answer's text is counted only now, and only when it reported no usage.
            if exchange.usage == nil { self.heldText.drain(into: &self.textCounter!) }
            self.heldText = HeldResponseText()
            exchange.generatedTokens = self.textCounter!.tokensIncludingOpenString
        }
    }
}
