import Foundation
import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// What an external authorization answer means, decided without IO (so every contract case is
/// tested on values): allow (with the allow-listed headers to set upstream), deny (with the
/// status and body to pass back), or a failure the route's failure mode settles.
enum AuthorizationDecision: Equatable {
    case allow(headers: [Header])
    case deny(status: Int, body: ByteBuffer?, contentType: String?)
    case failed(Failure)

    struct Header: Equatable {
        var name: String
        var value: String
    }

    enum Failure: String, Equatable {
        case timeout, unreachable, serverError = "server_error", badAnswer = "bad_answer"
    }

    /// The largest answer body read (a denial's body passed back is at most this).
    static let maxAnswerBytes = 64 * 1024

    /// Envoy's HTTP contract: 200 allows (headers from the answer, if allow-listed); 3xx and 4xx
    /// deny with their status and body; anything else is a failure.
    static func envoy(status: Int, headers: HTTPHeaders, body: ByteBuffer?, authorizer: ExternalAuthorizer) -> Self {
        switch status {
        case 200:
            return .allow(headers: headers.compactMap { Self.upstreamHeader($0.name, $0.value, authorizer) })
        case 300..<500:
            let contentType = headers.first(name: "content-type").flatMap(Self.safeValue)
            let passed = body.flatMap { $0.readableBytes > 0 ? $0 : nil }
            return .deny(status: status, body: passed, contentType: passed == nil ? nil : contentType)
        default:
            return .failed(.serverError)
        }
    }

    /// Open Policy Agent's data API: a 200 whose `result` is `true`, or an object whose
    /// `allowed` is `true`, allows; `false`, an undefined result, or `allowed: false` denies
    /// (with the object's `http_status`, 403 by default, and its `body`); any other answer is a
    /// failure.
    static func opa(status: Int, body: ByteBuffer?, authorizer: ExternalAuthorizer) -> Self {
        guard status == 200 else { return .failed(.serverError) }
        guard let body, let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else { return .failed(.badAnswer) }
        guard let result = object["result"] else { return .deny(status: 403, body: nil, contentType: nil) }
        if let allowed = result as? Bool {
            return allowed ? .allow(headers: []) : .deny(status: 403, body: nil, contentType: nil)
        }
        guard let decision = result as? [String: Any] else { return .failed(.badAnswer) }
        let headers = (decision["headers"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.compactMap { name, value in
            (value as? String).flatMap { Self.upstreamHeader(name, $0, authorizer) }
        }
        if decision["allowed"] as? Bool == true { return .allow(headers: headers) }
        var status = 403
        if let asked = decision["http_status"] as? Int, (300..<500).contains(asked) { status = asked }
        let text = decision["body"] as? String
        let passed = text.map { ByteBuffer(string: String($0.prefix(Self.maxAnswerBytes))) }
        return .deny(status: status, body: passed, contentType: passed == nil ? nil : "application/json")
    }

    /// The header the answer sets upstream, if its name is allow-listed and its value is safe.
    private static func upstreamHeader(_ name: String, _ value: String, _ authorizer: ExternalAuthorizer) -> Header? {
        let lowercased = name.lowercased()
        guard authorizer.allowsUpstream(lowercased), let value = Self.safeValue(value) else { return nil }
        return Header(name: lowercased, value: value)
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
        case .deny(let status, let body, let contentType): return .refuse(.authorizationDenied(status: status, body: body, contentType: contentType))
        case .failed: return failureMode == .open ? .proceed : .refuse(.authorizationFailed(status: statusOnError))
        }
    }
}
