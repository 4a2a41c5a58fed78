import Logging
import NIOPosix
import PortcullisGateway
import ServiceLifecycle

/// Builds the `authz:` listener on the gateway's own event loops.
public struct AuthzGRPCServerFactory: AuthzServerFactory {
    let group: MultiThreadedEventLoopGroup

    public init(group: MultiThreadedEventLoopGroup) {
        self.group = group
    }

    public func makeServer(host: String, port: Int, maxPayload: Int, engine: CheckEngine, logger: Logger) -> any Service {
        AuthzGRPCServer(host: host, port: port, maxPayload: maxPayload, engine: engine, group: self.group, logger: logger)
    }
}
