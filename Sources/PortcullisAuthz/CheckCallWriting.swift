import Foundation
import NIOCore
import PortcullisGateway
import SwiftProtobuf

/// The client side's conversions: the gateway's ``GRPCCheckCall`` into a `CheckRequest` shaped
/// as Envoy sends one, and a `CheckResponse` into a ``GRPCCheckAnswer`` (the gateway decides
/// what the answer may do: ``AuthorizationDecision``).
enum CheckCallWriting {
    static func request(_ call: GRPCCheckCall) -> Envoy_Service_Auth_V3_CheckRequest {
        var http = Envoy_Service_Auth_V3_AttributeContext.HttpRequest()
        http.id = call.requestID
        http.method = call.method
        http.path = call.path
        http.host = call.host
        http.scheme = call.scheme
        http.protocol = call.protocolName
        http.size = Int64(call.bodySize)
        var headers: [String: String] = [:]
        // One value per name, as Envoy sends them: repeated headers joined with commas.
        for (name, value) in call.headers { headers[name] = headers[name].map { $0 + "," + value } ?? value }
        if call.partial { headers["x-envoy-auth-partial-body"] = "true" }
        http.headers = headers
        if let body = call.body { http.body = String(decoding: body.readableBytesView, as: UTF8.self) }
        var request = Envoy_Service_Auth_V3_CheckRequest()
        request.attributes.request.http = http
        request.attributes.request.time = Google_Protobuf_Timestamp(date: Date())
        request.attributes.contextExtensions = Dictionary(call.contextExtensions, uniquingKeysWith: { first, _ in first })
        if let address = call.sourceAddress { request.attributes.source.address.socketAddress.address = address }
        return request
    }

    /// OK allows; any other status denies with its `denied_response` (no status there: 0, which
    /// the gateway answers as 403). A header's `append` says whether it is appended; without
    /// it, `append_action` `APPEND_IF_EXISTS_OR_ADD` (the default) sets, as Envoy documents
    /// for `OkHttpResponse` ("append defaults to false"), and every other action sets too.
    static func answer(_ response: Envoy_Service_Auth_V3_CheckResponse) -> GRPCCheckAnswer {
        if response.status.code == 0 {
            let ok = response.okResponse
            let edits = ok.headers.map { option in
                GRPCCheckAnswer.HeaderEdit(name: option.header.key, value: Self.value(option.header), append: option.hasAppend && option.append.value)
            }
            return .ok(headers: edits, remove: ok.headersToRemove)
        }
        let denied = response.deniedResponse
        let headers = denied.headers.map { GRPCCheckAnswer.HeaderEdit(name: $0.header.key, value: Self.value($0.header), append: false) }
        return .denied(status: denied.hasStatus ? denied.status.code.rawValue : 0, headers: headers, body: denied.body)
    }

    private static func value(_ header: Envoy_Config_Core_V3_HeaderValue) -> String {
        header.rawValue.isEmpty ? header.value : String(decoding: header.rawValue, as: UTF8.self)
    }
}
