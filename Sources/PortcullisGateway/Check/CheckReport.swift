import Foundation
import NIOCore
import PortcullisCore

/// A usage report for a request an ext_authz check allowed (`POST /authz/report` on the admin
/// listener): `{"request_id": "…", "usage": {"prompt_tokens": …, "completion_tokens": …,
/// "total_tokens": …}}`, sent by whatever sees the response (the router behind Envoy). The
/// request id is the `x-request-id` the check set. Without `usage`, the request ended with no
/// usage reported and settles to its whole reservation. Counts are clamped into
/// `0...Usage.maxCount`; a count that is not an integer is refused.
struct CheckReport: Equatable {
    var requestID: String
    var usage: Usage?

    struct Problem: Error, Equatable {
        var message: String
    }

    private struct Wire: Decodable {
        // swift-format-ignore: AlwaysUseLowerCamelCase (the report's field names)
        let request_id: String
        let usage: WireUsage?
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase
    private struct WireUsage: Decodable {
        let prompt_tokens: Int?
        let completion_tokens: Int?
        let total_tokens: Int?
    }

    static func parse(_ body: ByteBuffer) -> Result<CheckReport, Problem> {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(body.readableBytesView)) else {
            return .failure(Problem(message: "expected {\\\"request_id\\\": string, \\\"usage\\\": {prompt_tokens, completion_tokens, total_tokens}}"))
        }
        guard RequestID.isSane(Substring(wire.request_id)) else {
            return .failure(Problem(message: "request_id is not a request id the gateway sets"))
        }
        let usage = wire.usage.map { usage -> Usage in
            let prompt = Self.clamped(usage.prompt_tokens ?? 0)
            let completion = Self.clamped(usage.completion_tokens ?? 0)
            return Usage(promptTokens: prompt, completionTokens: completion, totalTokens: Self.clamped(usage.total_tokens ?? prompt + completion))
        }
        return .success(CheckReport(requestID: wire.request_id, usage: usage))
    }

    private static func clamped(_ count: Int) -> Int { min(max(count, 0), Usage.maxCount) }
}
