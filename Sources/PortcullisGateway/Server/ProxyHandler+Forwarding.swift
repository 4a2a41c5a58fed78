import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

extension ProxyHandler {
    // MARK: Forwarding

    func forward(_ exchange: Exchange, attempt: Int) {
        guard let route = exchange.route else { return }
        let backend = route.backend
        let endpoint = self.loop.nextEndpoint(of: backend, attempt: attempt)
        exchange.upstreamEndpoint = endpoint
        exchange.upstreamAttempts = attempt + 1
        self.phase = .processing
        if let connection = self.loop.pool.takeIdle(endpoint) {
            self.send(exchange, on: connection, endpoint: endpoint)
            return
        }
        self.loop.pool.connect(endpoint, backend: backend).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.phase == .processing else {
                // The client left while we were connecting; keep the connection for someone else.
                if case .success(let connection) = result { self.loop.pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                self.send(exchange, on: connection, endpoint: endpoint)
            case .failure(let error):
                if attempt + 1 < backend.endpoints.count {
                    // Nothing was sent: another endpoint of the same backend may answer.
                    self.forward(exchange, attempt: attempt + 1)
                } else if error is ChannelError, case .connectTimeout = error as! ChannelError {
                    self.respond(.upstreamTimeout())
                } else {
                    self.respond(.upstreamUnreachable())
                }
            }
        }
    }

    private func send(_ exchange: Exchange, on connection: UpstreamConnection, endpoint: UpstreamEndpoint) {
        self.upstream = connection
        let head = self.upstreamRequestHead(exchange, endpoint: endpoint)
        let now = NIODeadline.now()
        exchange.forwardedAt = exchange.forwardedAt ?? now
        self.phase = .awaitingResponse
        self.armTimer()
        connection.send(head: head, body: exchange.body, delegate: self)
    }

    /// The request head sent upstream: the client's headers minus hop-by-hop ones (and any
    /// named in `Connection`), minus `Host`/`Content-Length`/`Expect`/`x-request-id`/`x-forwarded-*`
    /// which the gateway sets itself, minus the reserved `x-tenant-*` family (and configured
    /// names) which only the gateway may set, minus the client's own credential unless the route
    /// opts in; then the trusted tenant context, signed when the backend asks for it.
    func upstreamRequestHead(_ exchange: Exchange, endpoint: UpstreamEndpoint) -> HTTPRequestHead {
        let client = exchange.head.headers
        let authentication = exchange.snapshot.config.authentication
        let checkConfiguredReserved = !authentication.reservedExact.isEmpty || !authentication.reservedPrefixes.isEmpty
        let forwardCredentials = exchange.route?.forwardClientCredentials ?? false
        let tokens = HeaderRules.connectionTokens(client)
        var headers = HTTPHeaders()
        headers.reserveCapacity(client.count + 8)
        headers.add(name: "host", value: endpoint.hostHeader)
        for (name, value) in client {
            // Names with `_` are dropped (as nginx does by default): CGI-style backends fold
            // `X_Tenant_Id` and `X-Tenant-Id` into one variable, which would defeat the stripping.
            if name.utf8.contains(UInt8(ascii: "_")) || HeaderRules.isHopByHop(name) || HeaderRules.isReplacedUpstream(name)
                || HeaderRules.isListed(name, in: tokens)
                || HeaderRules.hasPrefixIgnoringCase(name, "x-tenant-")
                || (!forwardCredentials && HeaderRules.isClientCredential(name))
                || (checkConfiguredReserved && authentication.isReserved(name.lowercased()))
            {
                continue
            }
            headers.add(name: name, value: value)
        }
        headers.add(name: "content-length", value: String(exchange.body?.readableBytes ?? 0))
        headers.add(name: "x-request-id", value: exchange.requestID)
        if let address = exchange.clientAddress {
            headers.add(name: "x-forwarded-for", value: address)
        }
        headers.add(name: "x-forwarded-proto", value: exchange.isTLS ? "https" : "http")
        let uri = endpoint.basePath.isEmpty ? exchange.target.pathAndQuery : endpoint.basePath + exchange.target.pathAndQuery
        if let identity = exchange.identity {
            let limits = identity.plan.flatMap { exchange.snapshot.config.tenants.plans[$0]?.limitsHeader } ?? ""
            headers.add(name: "x-tenant-id", value: identity.tenant)
            headers.add(name: "x-tenant-plan", value: identity.plan ?? "")
            headers.add(name: "x-tenant-org", value: identity.org ?? "")
            headers.add(name: "x-tenant-limits", value: limits)
            if let signing = exchange.route?.backend.signContext {
                headers.add(
                    name: "x-tenant-signature",
                    value: TenantContextSignature.sign(
                        secret: signing.secret, keyID: signing.keyID, timestamp: Int(exchange.receivedAtWall / 1000),
                        method: exchange.head.method.rawValue, pathAndQuery: uri, requestID: exchange.requestID,
                        tenant: identity.tenant, plan: identity.plan ?? "", org: identity.org ?? "", limits: limits))
            }
        }
        return HTTPRequestHead(version: .http1_1, method: exchange.head.method, uri: uri, headers: headers)
    }

    // MARK: UpstreamResponseDelegate

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let exchange = self.exchange, self.phase == .awaitingResponse else { return }
        let now = NIODeadline.now()
        self.lastUpstreamReadAt = now
        self.lastClientWriteAt = now
        // One pass over the upstream's headers: what kind of body follows, and whether anything
        // must be removed before the client sees them (hop-by-hop, or ids the gateway sets).
        var needsRewrite = false
        var contentType: String?
        var hasLength = false
        for (name, value) in head.headers {
            if HeaderRules.isHopByHop(name) || HeaderRules.isSetOnResponse(name) {
                needsRewrite = true
            } else if contentType == nil && HeaderRules.equalsIgnoringCase(name, "content-type") {
                contentType = value
            } else if HeaderRules.equalsIgnoringCase(name, "content-length") {
                hasLength = true
            }
        }
        // An HTTP/1.0 client cannot receive chunked framing: without a length, the end of the
        // body is the end of the connection.
        if !hasLength && exchange.head.version.major == 1 && exchange.head.version.minor == 0 && head.status.code >= 200
            && head.status != .noContent && head.status != .notModified
        {
            self.closeAfterResponse = true
        }
        var headers: HTTPHeaders
        if needsRewrite {
            let tokens = HeaderRules.connectionTokens(head.headers)
            headers = HTTPHeaders()
            headers.reserveCapacity(head.headers.count + 3)
            for (name, value) in head.headers
            where !HeaderRules.isHopByHop(name) && !HeaderRules.isSetOnResponse(name) && !HeaderRules.isListed(name, in: tokens) {
                headers.add(name: name, value: value)
            }
        } else {
            headers = head.headers
        }
        headers.add(name: "x-request-id", value: exchange.requestID)
        headers.add(
            name: "x-portcullis-overhead-ms", value: Millis.string(nanoseconds: (exchange.forwardedAt! - exchange.receivedAt).nanoseconds))
        if self.closeAfterResponse && !self.connection.isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        if let contentType {
            if HeaderRules.hasPrefixIgnoringCase(contentType, "text/event-stream") {
                self.sse = SSEScanner()
            } else if HeaderRules.hasPrefixIgnoringCase(contentType, "application/json") {
                self.usageScanner = UsageScanner()
            }
        }
        exchange.status = Int(head.status.code)
        self.phase = .streaming
        self.responseHeadSent = true
        self.context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: head.status, headers: headers))),
            promise: nil)
        self.pendingFlush = true
        self.armTimer()
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard let exchange = self.exchange, self.phase == .streaming else { return }
        self.lastUpstreamReadAt = .now()
        exchange.responseBytes += buffer.readableBytes
        if self.sse != nil {
            buffer.withUnsafeReadableBytes { self.sse!.feed($0) }
        } else if self.usageScanner != nil {
            buffer.withUnsafeReadableBytes { self.usageScanner!.feed($0) }
        }
        self.context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        self.pendingFlush = true
        if !self.context.channel.isWritable {
            self.upstream?.pauseReads()
        }
    }

    func upstreamReadComplete() {
        guard self.pendingFlush, let context = self.context else { return }
        self.pendingFlush = false
        self.lastClientWriteAt = self.lastUpstreamReadAt
        context.flush()
    }

    func upstreamResponseEnd() {
        guard let exchange = self.exchange, self.phase == .streaming else { return }
        exchange.usage = self.sse?.usage ?? self.usageScanner?.usage
        self.upstream = nil  // the connection returns itself to the pool
        self.pendingFlush = false
        self.writeEnd(closing: self.closeAfterResponse)
        self.finishExchange(closing: self.closeAfterResponse)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let exchange = self.exchange else { return }
        self.upstream = nil
        switch (self.phase, failure) {
        case (.awaitingResponse, .closedBeforeResponse(retryable: true)) where exchange.upstreamAttempts < 2:
            // A pooled connection closed as we used it (the backend's idle timeout raced our
            // request). Nothing was answered, so one retry on a fresh connection is safe.
            self.retryOnFreshConnection(exchange)
        case (.awaitingResponse, .protocolError):
            self.respond(.upstreamProtocolError())
        case (.awaitingResponse, _):
            self.respond(.upstreamUnreachable())
        case (.streaming, _):
            // Headers are out; the only honest signal left is to cut the client connection
            // (HTTP/1.1) or reset the stream (HTTP/2) so the client sees an incomplete response.
            exchange.abortReason = "upstream_closed"
            self.closeNow()
        default:
            break
        }
    }

    private func retryOnFreshConnection(_ exchange: Exchange) {
        guard let route = exchange.route, let endpoint = exchange.upstreamEndpoint else { return }
        exchange.upstreamAttempts += 1
        self.phase = .processing
        self.loop.pool.connect(endpoint, backend: route.backend).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.phase == .processing else {
                if case .success(let connection) = result { self.loop.pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection): self.send(exchange, on: connection, endpoint: endpoint)
            case .failure: self.respond(.upstreamUnreachable())
            }
        }
    }
}

extension HeaderRules {
    /// Response headers the gateway sets itself, so the upstream's copy is dropped.
    static func isSetOnResponse(_ name: String) -> Bool {
        switch name.utf8.count {
        case 12: return equalsIgnoringCase(name, "x-request-id")
        case 24: return equalsIgnoringCase(name, "x-portcullis-overhead-ms")
        default: return false
        }
    }

    /// The client's own credential headers (forwarded only when a route opts in).
    static func isClientCredential(_ name: String) -> Bool {
        switch name.utf8.count {
        case 9: return equalsIgnoringCase(name, "x-api-key")
        case 13: return equalsIgnoringCase(name, "authorization")
        default: return false
        }
    }

    /// Request headers the gateway always sets itself, so the client's copy is dropped.
    static func isReplacedUpstream(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: return equalsIgnoringCase(name, "host")
        case 6: return equalsIgnoringCase(name, "expect")
        case 12: return equalsIgnoringCase(name, "x-request-id")
        case 14: return equalsIgnoringCase(name, "content-length")
        case 15: return equalsIgnoringCase(name, "x-forwarded-for")
        case 16: return equalsIgnoringCase(name, "x-forwarded-host")
        case 17: return equalsIgnoringCase(name, "x-forwarded-proto")
        default: return equalsIgnoringCase(name, "forwarded")
        }
    }
}
