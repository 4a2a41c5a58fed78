import Logging
import ServiceLifecycle

/// Builds the `authz:` listener (PortcullisAuthz's gRPC server), given by the executable so
/// the gateway's own modules link no gRPC. The service it returns binds `host:port`, answers
/// every `Check` through `engine`, and stops gracefully with the service group.
public protocol AuthzServerFactory: Sendable {
    func makeServer(host: String, port: Int, maxPayload: Int, engine: CheckEngine, logger: Logger) -> any Service
}
