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
