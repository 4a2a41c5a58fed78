import Foundation
import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// What an external authorization answer means, decided without IO (so every contract case is
/// tested on values): allow (with the allow-listed headers to set upstream), deny (with the
/// status and body to pass back), or a failure the route's failure mode settles.
public enum AuthorizationDecision: Equatable, Sendable {
    /// `removed`: client headers to take off the upstream request (gRPC `headers_to_remove`).
    case allow(headers: [Header], removed: [String] = [])
    case deny(status: Int, body: ByteBuffer?, headers: [PassedHeader] = [])
    case failed(Failure)

    public struct Header: Equatable, Sendable {
        var name: String
        var value: String
        /// Added beside the client's values rather than replacing them (gRPC `append: true`).
        var append = false
    }

    public enum Failure: String, Equatable, Sendable {
        case timeout, unreachable, serverError = "server_error", badAnswer = "bad_answer"
        /// An answer larger than ``AuthorizationDecision/maxAnswerBytes``, or a check the gateway
        /// could not build: refused even when the service fails open (a client could provoke them).
        case oversized, unbuildable
    }

    /// The largest answer body read (a denial's body passed back is at most this).
    static let maxAnswerBytes = 64 * 1024

    /// Envoy's HTTP contract: 200 allows (headers from the answer, if allow-listed); 4xx denies
    /// with its status and body; a 3xx denies with 403 (a redirect is not followed, and is not
    /// passed on: a 304 would break the client's framing); anything else is a failure.
    static func envoy(status: Int, headers: HTTPHeaders, body: ByteBuffer?, authorizer: ExternalAuthorizer) -> Self {
        switch status {
        case 200:
            return .allow(headers: headers.compactMap { Self.upstreamHeader($0.name, $0.value, authorizer) })
        case 300..<400:
            return .deny(status: 403, body: nil)
        case 400..<500:
            let passed = body.flatMap { $0.readableBytes > 0 ? $0 : nil }
            return .deny(status: status, body: passed, headers: Self.deniedHeaders(headers.lazy.map { ($0.name, $0.value) }, hasBody: passed != nil))
        default:
            return .failed(.serverError)
        }
    }

    /// Envoy's gRPC contract: OK allows, with the answer's allow-listed header edits and
    /// removals (never a framing, identity-protected or gateway-set name); a denial passes its
    /// status (403 when it gives none, or one outside 3xx–5xx; a 3xx is 403 as over HTTP, since a
    /// redirect is not followed), its safe headers and its body.
    static func grpc(_ answer: GRPCCheckAnswer, authorizer: ExternalAuthorizer) -> Self {
        switch answer {
        case .ok(let edits, let remove):
            let headers = edits.compactMap { edit -> Header? in
                guard var header = Self.upstreamHeader(edit.name, edit.value, authorizer) else { return nil }
                header.append = edit.append
                return header
            }
            let removed = remove.map { $0.lowercased() }.filter { name in
                ConfigCompiler.isHeaderName(name) && authorizer.allowsUpstream(name) && !HeaderRules.isHopByHop(name)
                    && !HeaderRules.isReplacedUpstream(name)
            }
            return .allow(headers: headers, removed: removed)
        case .denied(let status, let headers, let body):
            let code = (400..<600).contains(status) ? status : 403
            let passed = body.isEmpty ? nil : ByteBuffer(bytes: body.utf8.prefix(Self.maxAnswerBytes))
            return .deny(status: code, body: passed, headers: Self.deniedHeaders(headers.lazy.map { ($0.name, $0.value) }, hasBody: passed != nil))
        case .failed(let failure):
            return .failed(failure)
        }
    }

    /// Open Policy Agent's data API: a 200 whose `result` is `true`, or an object whose
    /// `allowed` is `true`, allows; `false`, an undefined (or null) result, or `allowed: false`
    /// denies (with the object's `http_status` when it is a 4xx, else 403, and its `body`); any
    /// other answer is a failure. Decoded strictly: `1` is not `true`, a header value must be a
    /// string.
    static func opa(status: Int, body: ByteBuffer?, authorizer: ExternalAuthorizer) -> Self {
        guard status == 200 else { return .failed(.serverError) }
        guard let body, let answer = try? JSONDecoder().decode(OPAAnswer.self, from: Data(body.readableBytesView)) else {
            return .failed(.badAnswer)
        }
        switch answer.result {
        case nil, .allowed(false): return .deny(status: 403, body: nil)
        case .allowed(true): return .allow(headers: [])
        case .decision(let decision):
            let headers = (decision.headers ?? [:]).sorted { $0.key < $1.key }.compactMap { Self.upstreamHeader($0.key, $0.value, authorizer) }
            if decision.allowed == true { return .allow(headers: headers) }
            let status = decision.http_status.flatMap { (400..<500).contains($0) ? $0 : nil } ?? 403
            let passed = decision.body.map { ByteBuffer(string: String($0.prefix(Self.maxAnswerBytes))) }
            return .deny(status: status, body: passed, headers: passed == nil ? [] : [PassedHeader("content-type", "application/json")])
        }
    }

    /// The header the answer sets upstream: an allow-listed name that is a plain token (no
    /// `_`, which CGI-style backends fold into `-`), not one that frames the request or that
    /// the gateway sets itself, with a value safe on the wire.
    private static func upstreamHeader(_ name: String, _ value: String, _ authorizer: ExternalAuthorizer) -> Header? {
        let lowercased = name.lowercased()
        guard ConfigCompiler.isHeaderName(lowercased), !lowercased.utf8.contains(UInt8(ascii: "_")),
            !HeaderRules.isHopByHop(lowercased), !HeaderRules.isReplacedUpstream(lowercased),
            authorizer.allowsUpstream(lowercased), let value = Self.safeValue(value)
        else { return nil }
        return Header(name: lowercased, value: value)
    }

    /// The most headers of a denial passed to the client.
    static let maxDeniedHeaders = 32

    /// The denial's headers that reach the client, as Envoy passes a denied response's: each
    /// plain-token name (no `_`) with a safe value, except the ones that frame the answer
    /// (hop-by-hop, `content-length`, `content-encoding`: the gateway's own body is never
    /// encoded) or that the gateway writes itself (`date`, `server`, `x-request-id`,
    /// `x-portcullis-*`, `x-ratelimit-*`); `content-type` only with a body.
    /// At most ``maxDeniedHeaders``, the first of each name.
    static func deniedHeaders(_ headers: some Sequence<(String, String)>, hasBody: Bool) -> [PassedHeader] {
        var passed: [PassedHeader] = []
        for (name, value) in headers {
            guard passed.count < Self.maxDeniedHeaders else { break }
            let lowercased = name.lowercased()
            guard ConfigCompiler.isHeaderName(lowercased), !lowercased.utf8.contains(UInt8(ascii: "_")),
                !HeaderRules.isHopByHop(lowercased), !HeaderRules.hasPrefixIgnoringCase(lowercased, "x-portcullis-"),
                !HeaderRules.isSetOnResponse(bytes: lowercased.utf8),
                !["content-length", "content-encoding", "date", "server"].contains(lowercased),
                hasBody || lowercased != "content-type", !passed.contains(where: { $0.name == lowercased }),
                let value = Self.safeValue(value)
            else { continue }
            passed.append(PassedHeader(lowercased, value))
        }
        return passed
    }

    /// A header value that is safe on the wire: printable ASCII and tabs, at most 8 KiB.
    static func safeValue(_ value: String) -> String? {
        guard value.utf8.count <= 8192, value.utf8.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }) else { return nil }
        return value
    }

    /// The stage's answer: what the request path does with this decision.
    func outcome(failureMode: ExternalAuthorizationSpec.FailureMode, statusOnError: Int) -> SuspensionResult {
        switch self {
        case .allow: return .proceed
        case .deny(let status, let body, let headers): return .refuse(.authorizationDenied(status: status, body: body, headers: headers))
        case .failed(.oversized), .failed(.unbuildable): return .refuse(.authorizationFailed(status: statusOnError))
        case .failed: return failureMode == .open ? .proceed : .refuse(.authorizationFailed(status: statusOnError))
        }
    }
}

/// Open Policy Agent's answer, `{"result": …}` (nil: the rule is undefined).
private struct OPAAnswer: Decodable {
    let result: OPAResult?

    enum OPAResult: Decodable {
        case allowed(Bool)
        case decision(Decision)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let allowed = try? container.decode(Bool.self) {
                self = .allowed(allowed)
            } else {
                self = .decision(try container.decode(Decision.self))
            }
        }
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase (OPA's field names)
    struct Decision: Decodable {
        let allowed: Bool?
        let headers: [String: String]?
        let http_status: Int?
        let body: String?
    }
}
