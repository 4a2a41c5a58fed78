import NIOCore
import PortcullisConfig

/// Envoy's gRPC ext_authz call (`envoy.service.auth.v3.Authorization/Check`) as the ext-authz
/// stage sees it. The transport lives in PortcullisAuthz, so the data path links no gRPC: the
/// gateway builds the call (``GRPCCheckCall``) and decides on the answer
/// (``AuthorizationDecision/grpc(_:authorizer:)``); the transport only carries it.
public protocol GRPCCheckTransport: Sendable {
    /// Sends one check to `endpoint`, answering on `loop`. The future never fails: a transport
    /// error is a ``GRPCCheckAnswer/failed(_:)``. `cancel` abandons the call (the client left).
    func check(_ call: GRPCCheckCall, endpoint: UpstreamEndpoint, timeout: TimeAmount, on loop: any EventLoop) -> GRPCCheckPending
}

public struct GRPCCheckPending: Sendable {
    public let answer: EventLoopFuture<GRPCCheckAnswer>
    public let cancel: @Sendable () -> Void

    public init(answer: EventLoopFuture<GRPCCheckAnswer>, cancel: @escaping @Sendable () -> Void) {
        self.answer = answer
        self.cancel = cancel
    }
}

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

/// A `CheckResponse` as the gateway reads it.
public enum GRPCCheckAnswer: Sendable, Equatable {
    /// `status.code` OK with its `ok_response`: headers to set (or append), names to remove.
    case ok(headers: [HeaderEdit], remove: [String])
    /// Any other status, with its `denied_response` (status 0: none given).
    case denied(status: Int, headers: [HeaderEdit], body: String)
    case failed(AuthorizationDecision.Failure)

    public struct HeaderEdit: Sendable, Equatable {
        public var name: String
        public var value: String
        public var append: Bool

        public init(name: String, value: String, append: Bool) {
            self.name = name
            self.value = value
            self.append = append
        }
    }
}
