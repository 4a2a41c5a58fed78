import NIOCore
import NIOHTTP1
import PortcullisCore

extension ProxyHandler {
    // MARK: Local responses

    /// Answers the current request with a refusal. If the response already started, the only
    /// thing left is to cut the connection.
    func respond(_ error: GatewayError) {
        guard let exchange = self.exchange else {
            self.respondWithoutExchange(error)
            return
        }
        exchange.refusal = error.reason
        exchange.status = error.status
        if self.responseHeadSent {
            exchange.abortReason = exchange.abortReason ?? error.reason.rawValue
            self.closeNow()
            return
        }
        if let upstream = self.upstream {
            self.upstream = nil
            upstream.abandon()
        }
        if error.closeConnection { self.closeAfterResponse = true }
        if !self.requestComplete && !self.connection.isHTTP2 {
            // Answering before the body is in: keep the connection only when the rest is small
            // and known to be coming.
            // No Content-Length and no Transfer-Encoding: an HTTP/1.1 request without a body.
            let declared = self.declaredBodyLength ?? (self.chunkedBody ? Int.max : 0)
            let remaining = declared - (exchange.body?.readableBytes ?? 0)
            if self.expectContinue || self.chunkedBody || remaining > Self.discardLimit {
                self.closeAfterResponse = true
            }
        }
        var headers = HTTPHeaders()
        for (name, value) in error.headers { headers.add(name: name, value: value) }
        let body = error.renderBody(allocator: self.context.channel.allocator)
        self.writeLocalResponse(
            status: HTTPResponseStatus(statusCode: error.status), headers: headers, body: body, exchange: exchange)
    }

    func respondJSON(status: HTTPResponseStatus, body: ByteBuffer) {
        guard let exchange = self.exchange else { return }
        exchange.status = Int(status.code)
        self.writeLocalResponse(status: status, headers: HTTPHeaders(), body: body, exchange: exchange)
    }

    private func writeLocalResponse(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, exchange: Exchange) {
        var headers = headers
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "x-request-id", value: exchange.requestID)
        if self.closeAfterResponse && !self.connection.isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        exchange.responseBytes = body.readableBytes
        self.responseHeadSent = true
        self.context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: status, headers: headers))),
            promise: nil)
        self.context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if self.requestComplete || self.closeAfterResponse {
            self.writeEnd(closing: self.closeAfterResponse)
            self.finishExchange(closing: self.closeAfterResponse)
        } else {
            // Answered before the request was fully read: read and drop the rest, then go idle.
            self.writeEnd(closing: false)
            self.phase = .discardingBody
            self.armTimer()
        }
    }

    /// A refusal before an ``Exchange`` exists (unparseable head or target, slow head): answer
    /// and close. On HTTP/1 the bytes go out below the HTTP codec, which has no request to pair
    /// a response with.
    func respondWithoutExchange(_ error: GatewayError) {
        guard let context = self.context, self.phase != .closed else { return }
        let body = error.renderBody(allocator: context.channel.allocator)
        self.phase = .closed
        self.cancelTimer()
        if !self.connection.isHTTP2, let raw = self.connection.rawWriter {
            var bytes = context.channel.allocator.buffer(capacity: 160 + body.readableBytes)
            let status = HTTPResponseStatus(statusCode: error.status)
            bytes.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
            bytes.writeString("content-type: application/json\r\ncontent-length: \(body.readableBytes)\r\nconnection: close\r\n\r\n")
            var body = body
            bytes.writeBuffer(&body)
            raw.writeRawAndClose(bytes)
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.readableBytes))
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: .http2, status: HTTPResponseStatus(statusCode: error.status), headers: headers))),
            promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        self.responseHeadSent = true
        self.writeEnd(closing: true)
    }

    /// Writes the response end and flushes; closes the channel after it when asked.
    func writeEnd(closing: Bool) {
        guard let context = self.context else { return }
        if closing {
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Cuts the connection (HTTP/1.1) or resets the stream (HTTP/2) at once.
    func closeNow() {
        guard self.phase != .closed else { return }
        if let upstream = self.upstream {
            self.upstream = nil
            upstream.abandon()
        }
        if self.exchange != nil {
            self.finishExchange(closing: true)
        }
        self.phase = .closed
        self.cancelTimer()
        self.context?.close(promise: nil)
    }

    // MARK: End of request

    /// The end-of-request work, reached exactly once per exchange on every path: access log,
    /// state reset, and the switch back to idle (or to closed).
    func finishExchange(closing: Bool) {
        guard let exchange = self.exchange else { return }
        self.exchange = nil
        if exchange.status == 0 { exchange.status = 499 }
        self.loop.accessLog.record(exchange, eventLoop: self.loop.eventLoop)

        self.headStagesDone = false
        self.requestComplete = false
        self.responseHeadSent = false
        self.expectContinue = false
        self.sse = nil
        self.usageScanner = nil
        self.pendingFlush = false
        if closing || self.connection.isHTTP2 {
            // An HTTP/2 stream carries exactly one request; the stream channel closes itself.
            self.phase = .closed
            self.cancelTimer()
        } else if let refusal = self.deferredRefusal {
            self.deferredRefusal = nil
            self.pipelined.removeAll()
            self.phase = .idle
            self.respondWithoutExchange(refusal)
        } else {
            self.closeAfterResponse = false
            self.phase = .idle
            self.connection.awaitingHead = true
            self.connection.currentRequestComplete = false
            // Bytes of the next head that came in while this one was answered start its clock now.
            self.connection.headBytesAt = self.connection.bytesWhileBusy ? .now() : nil
            self.connection.bytesWhileBusy = false
            self.connection.idleSince = .now()
            self.armTimer()
            if !self.pipelined.isEmpty { self.drainPipelined() }
        }
    }
}
