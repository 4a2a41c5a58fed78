import Foundation
import NIOCore
import PortcullisGateway

/// Reads an Envoy `CheckRequest` into the gateway's ``CheckInput``, the way Envoy fills it:
/// headers from `headers` (or `header_map`, whose `raw_value` newer Envoys send instead), the
/// body from `body` or `raw_body` (`pack_as_bytes`), `x-envoy-auth-partial-body: true` on a
/// body cut at `max_request_bytes`, the source address and the URL-encoded PEM of the client
/// certificate Envoy verified.
enum CheckRequestReading {
    static func input(_ request: Envoy_Service_Auth_V3_CheckRequest) -> CheckInput {
        let attributes = request.attributes
        let http = attributes.request.http
        var headers: [(String, String)] = []
        if !http.headerMap.headers.isEmpty {
            for header in http.headerMap.headers {
                let value = header.rawValue.isEmpty ? header.value : String(decoding: header.rawValue, as: UTF8.self)
                headers.append((header.key.lowercased(), value))
            }
        } else {
            // A map: one value per name (Envoy joins repeated headers with commas). Sorted, so
            // a check does not depend on the map's order.
            for (name, value) in http.headers.sorted(by: { $0.key < $1.key }) { headers.append((name.lowercased(), value)) }
        }
        var body: ByteBuffer?
        if !http.rawBody.isEmpty {
            body = ByteBuffer(bytes: http.rawBody)
        } else if !http.body.isEmpty {
            body = ByteBuffer(string: http.body)
        }
        let partial = headers.contains { $0.0 == "x-envoy-auth-partial-body" && $0.1.lowercased() == "true" }
        let source = attributes.source.address.socketAddress.address
        let pem = attributes.source.certificate.isEmpty ? nil : attributes.source.certificate.removingPercentEncoding
        return CheckInput(
            method: http.method.isEmpty ? "GET" : http.method, path: http.path.isEmpty ? "/" : http.path, host: http.host,
            scheme: http.scheme.isEmpty ? "http" : http.scheme, protocolName: http.protocol.isEmpty ? "HTTP/1.1" : http.protocol,
            headers: headers.filter { $0.0 != "x-envoy-auth-partial-body" }, body: body, bodySize: Int(http.size),
            partialBody: partial, sourceAddress: source.isEmpty ? nil : source, certificatePEM: pem)
    }

    /// The `CheckResponse` for a verdict: OK with an `OkHttpResponse` (each header set with
    /// `append: false`, so Envoy replaces a client's value, and what a nested check appended
    /// with `append: true`), or PERMISSION_DENIED with a
    /// `DeniedHttpResponse` carrying the gateway's own status, headers and OpenAI-shaped body.
    static func response(_ verdict: CheckVerdict) -> Envoy_Service_Auth_V3_CheckResponse {
        var response = Envoy_Service_Auth_V3_CheckResponse()
        switch verdict {
        case .allow(let set, let append, let remove, let responseHeaders):
            response.status.code = 0
            var ok = Envoy_Service_Auth_V3_OkHttpResponse()
            ok.headers = set.map { Self.option($0, append: false) } + append.map { Self.option($0, append: true) }
            ok.headersToRemove = remove
            ok.responseHeadersToAdd = responseHeaders.map { Self.option($0, append: false) }
            response.okResponse = ok
        case .answer(let status, let headers, let body):
            response.status.code = Self.permissionDenied
            response.status.message = "denied by portcullis"
            var denied = Envoy_Service_Auth_V3_DeniedHttpResponse()
            denied.status.code = Envoy_Type_V3_StatusCode(rawValue: status) ?? .forbidden
            denied.headers = headers.map { Self.option($0, append: false) }
            denied.body = body
            response.deniedResponse = denied
        }
        return response
    }

    /// `google.rpc.Code.PERMISSION_DENIED`.
    static let permissionDenied: Int32 = 7

    static func option(_ header: CheckVerdict.Header, append: Bool) -> Envoy_Config_Core_V3_HeaderValueOption {
        var option = Envoy_Config_Core_V3_HeaderValueOption()
        option.header.key = header.name
        option.header.value = header.value
        option.append.value = append
        option.appendAction = append ? .appendIfExistsOrAdd : .overwriteIfExistsOrAdd
        return option
    }
}
