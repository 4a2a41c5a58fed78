import NIOCore
import NIOHTTP1
import PortcullisCore

/// The response heads the client receives: an upstream's head with the gateway's edits, and
/// the gateway's own answers.
enum ClientResponseHead {
    /// What one pass over an upstream response head found.
    struct Scan {
        /// A header must be removed before the client sees it (hop-by-hop, or one the gateway sets).
        var needsRewrite = false
        var body = BodyKind.other
        /// An HTTP/1.0 client cannot receive chunked framing: without a length the end of the
        /// body is the end of the connection.
        var closeForHTTP10 = false
    }

    enum BodyKind { case eventStream, json, other }

    static func scan(_ upstream: HTTPResponseHead, clientVersion: HTTPVersion) -> Scan {
        var scan = Scan()
        var hasLength = false
        var sawContentType = false
        for (name, value) in upstream.headers {
            if HeaderRules.isHopByHop(name) || HeaderRules.isSetOnResponse(name) {
                scan.needsRewrite = true
            } else if !sawContentType && HeaderRules.equalsIgnoringCase(name, "content-type") {
                sawContentType = true
                if HeaderRules.hasPrefixIgnoringCase(value, "text/event-stream") {
                    scan.body = .eventStream
                } else if HeaderRules.hasPrefixIgnoringCase(value, "application/json") {
                    scan.body = .json
                }
            } else if HeaderRules.equalsIgnoringCase(name, "content-length") {
                hasLength = true
            }
        }
        let status = upstream.status
        scan.closeForHTTP10 =
            !hasLength && clientVersion.major == 1 && clientVersion.minor == 0 && status.code >= 200
            && status != .noContent && status != .notModified
        return scan
    }

    /// The upstream's head as the client gets it: its own headers minus hop-by-hop ones (and
    /// any it named in `Connection`) and the ones the gateway sets, plus `x-request-id`,
    /// `x-portcullis-overhead-ms` and, when the connection ends with this response, `Connection: close`.
    static func forwarded(
        _ upstream: HTTPResponseHead, scan: Scan, exchange: Exchange, closeConnection: Bool, isHTTP2: Bool
    ) -> HTTPResponseHead {
        var headers: HTTPHeaders
        if scan.needsRewrite {
            let tokens = HeaderRules.connectionTokens(upstream.headers)
            headers = HTTPHeaders()
            headers.reserveCapacity(upstream.headers.count + 3)
            for (name, value) in upstream.headers
            where !HeaderRules.isHopByHop(name) && !HeaderRules.isSetOnResponse(name) && !HeaderRules.isListed(name, in: tokens) {
                headers.add(name: name, value: value)
            }
        } else {
            headers = upstream.headers
        }
        headers.add(name: "x-request-id", value: exchange.requestID)
        var overhead: Int64 = 0
        if let forwardedAt = exchange.forwardedAt { overhead = (forwardedAt - exchange.receivedAt).nanoseconds }
        headers.add(name: "x-portcullis-overhead-ms", value: Millis.string(nanoseconds: overhead))
        if closeConnection && !isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: exchange.head.version, status: upstream.status, headers: headers)
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
