import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// Reads a request head once, before any stage runs: its framing, its `Host`, its target, the
/// endpoint or route it addresses and the body limit that applies. Pure, so it is tested alone
/// (`RequestHeadCheckTests`) over a table of heads.
///
/// Refused here: an HTTP/1.1 head without exactly one valid `Host` (RFC 9112 §3.2), an HTTP/1.0
/// head with `Transfer-Encoding` (no HTTP/1.0 peer can mean chunked by it, so the framing is
/// ambiguous), HTTP/2 header blocks over the header limits (HTTP/1 limits are the decoder's),
/// unclean targets, unknown paths, wrong methods and a `Content-Length` over the body limit.
enum RequestHeadCheck {
    struct Facts {
        var target: RequestTarget
        var endpoint: EndpointKind
        var route: Route?
        var bodyLimit: Int
        var framing: LifecycleStateMachine.RequestFraming
        /// The client's `x-request-id` when it is a sane token.
        var clientRequestID: String?
    }

    enum Result {
        case accepted(Facts)
        /// Refused; `facts` holds what was learned (for the exchange and its log line).
        case refused(GatewayError, Facts)
    }

    static func check(_ head: HTTPRequestHead, isHTTP2: Bool, config: ConfigSnapshot) -> Result {
        let http = config.http
        var hosts = 0
        var hostValue: String?
        var contentLength: Int?
        var badLength = false
        var transferEncoding = false
        var onlyChunked = true
        var expectContinue = false
        var clientRequestID: String?
        var contentTypeIsJSON = true
        var headerBytes = 0
        for (name, value) in head.headers {
            if isHTTP2 { headerBytes += name.utf8.count + value.utf8.count }
            switch name.utf8.count {
            case 4 where HeaderRules.equalsIgnoringCase(name, "host"):
                hosts += 1
                hostValue = value
            case 6 where HeaderRules.equalsIgnoringCase(name, "expect"):
                expectContinue = HeaderRules.equalsIgnoringCase(value, "100-continue")
            case 12 where HeaderRules.equalsIgnoringCase(name, "x-request-id"):
                if clientRequestID == nil, RequestID.isSane(Substring(value)) { clientRequestID = value }
            case 12 where HeaderRules.equalsIgnoringCase(name, "content-type"):
                // Every copy must say JSON: backends differ on which of two they read.
                if !Self.isJSON(value) { contentTypeIsJSON = false }
            case 14 where HeaderRules.equalsIgnoringCase(name, "content-length"):
                if let length = Int(value), length >= 0 { contentLength = length } else { badLength = true }
            case 17 where HeaderRules.equalsIgnoringCase(name, "transfer-encoding"):
                // One `chunked` and nothing else (the decoder refuses a repeated or misplaced
                // `chunked`; other codings it would silently drop).
                if transferEncoding || value.trimmingCharacters(in: " \t").lowercased() != "chunked" { onlyChunked = false }
                transferEncoding = true
            default:
                break
            }
        }
        let idempotent: Bool
        switch head.method {
        case .GET, .HEAD, .PUT, .DELETE, .OPTIONS: idempotent = true
        default: idempotent = false
        }
        let framing = LifecycleStateMachine.RequestFraming(
            keepAlive: head.isKeepAlive, expectContinue: expectContinue, contentLength: contentLength, chunked: transferEncoding,
            idempotent: idempotent)
        var facts = Facts(
            target: .unreadable, endpoint: .none, route: nil, bodyLimit: http.maxRequestBytes, framing: framing,
            clientRequestID: clientRequestID)

        if isHTTP2 && (head.headers.count > http.maxHeaderCount || headerBytes > http.maxHeaderBytes) {
            return .refused(.headersTooLarge, facts)
        }
        if head.method == .CONNECT || head.method == .TRACE { return .refused(.unsupportedMethod, facts) }
        let isHTTP11 = !isHTTP2 && head.version.major == 1 && head.version.minor >= 1
        // An HTTP/2 request names its host in `:authority` (which becomes `host`) or `host`.
        if (isHTTP11 || isHTTP2) && hosts == 0 { return .refused(.badHost(.missing), facts) }
        if hosts > 1 { return .refused(.badHost(.duplicated), facts) }
        if let hostValue, !Self.isValidHost(hostValue) { return .refused(.badHost(.invalid), facts) }
        if !isHTTP2 && head.version.major == 1 && head.version.minor == 0 && transferEncoding {
            return .refused(.ambiguousFraming, facts)
        }
        if badLength { return .refused(.protocolError, facts) }
        if transferEncoding && !onlyChunked && !isHTTP2 { return .refused(.unsupportedTransferCoding, facts) }

        switch RequestTarget.parse(head.uri) {
        case .success(let target): facts.target = target
        case .failure: return .refused(.badPath, facts)
        }
        let path = facts.target.path
        if let fixed = EndpointKind.fixed(path: path) {
            facts.endpoint = fixed
        } else if let route = config.router.route(path: path) {
            facts.endpoint = .pathRoute
            facts.route = route
            facts.bodyLimit = route.maxRequestBytes
        } else if path.hasPrefix(EndpointKind.modelPrefix) && (config.router.catchAll == nil || !Self.isBelowModel(path)) {
            facts.endpoint = .model
        } else if let route = config.router.catchAll {
            // Whatever no route matches goes to the catch-all, as a path route (its body is
            // forwarded as it is). `GET /v1/models/{id}` stays the gateway's own.
            facts.endpoint = .pathRoute
            facts.route = route
            facts.bodyLimit = route.maxRequestBytes
        } else {
            return .refused(.notFound, facts)
        }
        if let method = facts.endpoint.allowedMethod, head.method.rawValue != method {
            return .refused(.methodNotAllowed(facts.endpoint), facts)
        }
        if facts.endpoint.readsModelFromBody, !contentTypeIsJSON {
            // A body that is not declared as JSON is not read as JSON (no content sniffing); a
            // missing Content-Type is taken as JSON, as the OpenAI API does.
            return .refused(.unsupportedMediaType, facts)
        }
        if let contentLength, contentLength > facts.bodyLimit {
            return .refused(.bodyTooLarge(limit: facts.bodyLimit, bodyRead: false), facts)
        }
        return .accepted(facts)
    }

    /// `application/json` or a `+json` type (`application/vnd.x+json`), any parameters after `;`.
    static func isJSON(_ contentType: String) -> Bool {
        // On the bytes, without allocating: this runs for every OpenAI request.
        var contentType = contentType
        return contentType.withUTF8 { bytes in
            var start = 0
            var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
            while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
            let media = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if HeaderRules.equalsIgnoringCase(bytes: media, "application/json") { return true }
            return media.count > 17 && HeaderRules.hasPrefixIgnoringCase(bytes: media, "application/")
                && HeaderRules.equalsIgnoringCase(bytes: media[(media.count - 5)...], "+json")
        }
    }

    /// Whether `path` goes below a model (`/v1/models/iris:predict`, `/v1/models/iris/infer`,
    /// KServe's shapes) rather than naming one (`/v1/models/iris`).
    static func isBelowModel(_ path: String) -> Bool {
        path.utf8.dropFirst(EndpointKind.modelPrefix.utf8.count).contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") }
    }

    /// `host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3): a bracketed IP literal, or a reg-name of
    /// unreserved characters, sub-delims and percent-escapes; a port of at most five digits. An
    /// empty value is valid (a target URI without authority).
    static func isValidHost(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            let count = bytes.count
            guard count <= 255 else { return false }
            var i = 0
            if count > 0 && bytes[0] == UInt8(ascii: "[") {
                i = 1
                while i < count && bytes[i] != UInt8(ascii: "]") {
                    let byte = bytes[i]
                    guard Self.isHex(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") else { return false }
                    i += 1
                }
                guard i < count, i > 1 else { return false }  // no `]`, or `[]`
                i += 1
            } else {
                while i < count && bytes[i] != UInt8(ascii: ":") {
                    let byte = bytes[i]
                    if byte == UInt8(ascii: "%") {
                        guard i + 2 < count, Self.isHex(bytes[i + 1]), Self.isHex(bytes[i + 2]) else { return false }
                        i += 3
                        continue
                    }
                    guard Self.isRegNameByte(byte) else { return false }
                    i += 1
                }
            }
            guard i < count else { return true }
            guard bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            guard count - i <= 5 else { return false }
            var port = 0
            while i < count {
                let byte = bytes[i]
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return false }
                port = port * 10 + Int(byte - UInt8(ascii: "0"))
                i += 1
            }
            return port <= 65535
        }
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    /// unreserved / sub-delims (RFC 3986 §2.2, §2.3).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
