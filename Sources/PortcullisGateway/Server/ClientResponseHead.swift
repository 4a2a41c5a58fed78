import NIOCore
import NIOHTTP1
import PortcullisCore

/// The response heads the client receives: an upstream's head with the gateway's edits, and
/// the gateway's own answers.
enum ClientResponseHead {
    /// An HTTP/1.0 client cannot receive chunked framing: without a length the end of the
    /// body is the end of the connection.
    static func closesForHTTP10(_ upstream: UpstreamResponseHead, clientVersion: HTTPVersion) -> Bool {
        clientVersion.major == 1 && clientVersion.minor == 0 && !upstream.hasContentLength && upstream.framing != .none
    }

    /// The upstream's head as the client gets it: its own headers minus hop-by-hop ones (and
    /// any it named in `Connection`) and the ones the gateway sets, plus `x-request-id`,
    /// `x-portcullis-overhead-ms` and, when the connection ends with this response, `Connection: close`.
    static func forwarded(
        _ upstream: UpstreamResponseHead, exchange: Exchange, closeConnection: Bool, isHTTP2: Bool
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.fields.count + 3)
        let rewrite = upstream.needsRewrite
        let tokens = upstream.connectionTokens
        upstream.forEachField { name, value in
            if rewrite && (HeaderRules.isHopByHop(bytes: name) || HeaderRules.isSetOnResponse(bytes: name)) { return }
            let name = String(decoding: name, as: UTF8.self)
            if !tokens.isEmpty && HeaderRules.isListed(name, in: tokens) { return }
            headers.add(name: name, value: String(decoding: value, as: UTF8.self))
        }
        headers.add(name: "x-request-id", value: exchange.requestID)
        var overhead: Int64 = 0
        if let forwardedAt = exchange.forwardedAt { overhead = (forwardedAt - exchange.receivedAt).nanoseconds }
        headers.add(name: "x-portcullis-overhead-ms", value: Millis.string(nanoseconds: overhead))
        if closeConnection && !isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: exchange.head.version, status: HTTPResponseStatus(statusCode: upstream.status), headers: headers)
    }

    /// The head of an answer of the gateway's own (a refusal, the model list).
    static func local(
        status: Int, extra: [(String, String)], bodyLength: Int, exchange: Exchange, closeConnection: Bool, isHTTP2: Bool
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(extra.count + 4)
        for (name, value) in extra { headers.add(name: name, value: value) }
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(bodyLength))
        headers.add(name: "x-request-id", value: exchange.requestID)
        if closeConnection && !isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        let version = exchange.endpoint == .none && !isHTTP2 ? .http1_1 : exchange.head.version
        return HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
    }
}
