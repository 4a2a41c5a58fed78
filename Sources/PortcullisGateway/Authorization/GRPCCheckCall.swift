import NIOCore

/// What a `CheckRequest` carries: only what the operator listed leaves the gateway.
public struct GRPCCheckCall: Sendable {
    public var method: String
    public var path: String
    public var host: String
    public var scheme: String
    public var protocolName: String
    public var requestID: String
    /// The configured client headers and the trusted identity headers (lowercased names).
    public var headers: [(String, String)]
    /// The trusted identity again, as `context_extensions` (`tenant_id`, `tenant_plan`, `tenant_org`).
    public var contextExtensions: [(String, String)]
    /// The body up to `includeBody` bytes, and whether it was cut.
    public var body: ByteBuffer?
    public var bodySize: Int
    public var partial: Bool
    public var sourceAddress: String?
}
