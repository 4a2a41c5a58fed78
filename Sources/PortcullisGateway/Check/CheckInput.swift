import NIOCore

/// A request as an Envoy ext_authz `CheckRequest` describes it (`attributes.request.http`,
/// `attributes.source`), free of the protobuf types: the check runs, and is tested, without
/// the gRPC transport.
public struct CheckInput: Sendable {
    public var method: String
    /// `:path` as Envoy sends it: path and query.
    public var path: String
    public var host: String
    /// `http` or `https`, as the client reached Envoy.
    public var scheme: String
    /// `HTTP/1.1`, `HTTP/2`, …
    public var protocolName: String
    /// The client's headers (Envoy lowercases names).
    public var headers: [(String, String)]
    /// The body Envoy buffered (`with_request_body`), nil when it sent none.
    public var body: ByteBuffer?
    /// The request's whole body size (`size`, -1 when unknown).
    public var bodySize: Int
    /// Envoy marks a body it cut at `max_request_bytes` (`x-envoy-auth-partial-body: true`).
    public var partialBody: Bool
    public var sourceAddress: String?
    /// The client certificate Envoy verified (`attributes.source.certificate`), URL-decoded PEM.
    public var certificatePEM: String?

    public init(
        method: String, path: String, host: String, scheme: String = "http", protocolName: String = "HTTP/1.1",
        headers: [(String, String)], body: ByteBuffer? = nil, bodySize: Int = -1, partialBody: Bool = false,
        sourceAddress: String? = nil, certificatePEM: String? = nil
    ) {
        self.method = method
        self.path = path
        self.host = host
        self.scheme = scheme
        self.protocolName = protocolName
        self.headers = headers
        self.body = body
        self.bodySize = bodySize
        self.partialBody = partialBody
        self.sourceAddress = sourceAddress
        self.certificatePEM = certificatePEM
    }
}
