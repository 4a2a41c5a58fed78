import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
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

    public func makeServer(host: String, port: Int, engine: CheckEngine, logger: Logger) -> any Service {
        AuthzGRPCServer(host: host, port: port, engine: engine, group: self.group, logger: logger)
    }
}

/// The `envoy.service.auth.v3.Authorization` gRPC server (plaintext HTTP/2, as Envoy's
/// `envoy_grpc` cluster speaks it on loopback or in a mesh). Prints
/// `authz listening on HOST:PORT` once bound; stops accepting checks at the graceful stop and
/// lets the ones in flight finish.
struct AuthzGRPCServer: Service {
    let host: String
    let port: Int
    let engine: CheckEngine
    let group: MultiThreadedEventLoopGroup
    let logger: Logger

    func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: self.host, port: self.port), transportSecurity: .plaintext,
            config: .defaults { $0.rpc.maxRequestPayloadSize = 8 * 1024 * 1024 }, eventLoopGroup: self.group)
        let server = GRPCServer(transport: transport, services: [CheckService(engine: self.engine)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let address = try await server.listeningAddress?.ipv4 {
                    FileHandle.standardOutput.write(Data("authz listening on \(address.host):\(address.port)\n".utf8))
                    self.logger.info("ext_authz gRPC server listening", metadata: ["address": "\(address.host):\(address.port)"])
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

/// `Check`: the request Envoy describes, through the gateway's stages (``CheckEngine``).
struct CheckService: Envoy_Service_Auth_V3_Authorization.SimpleServiceProtocol {
    let engine: CheckEngine

    func check(
        request: Envoy_Service_Auth_V3_CheckRequest, context: ServerContext
    ) async throws -> Envoy_Service_Auth_V3_CheckResponse {
        let (verdict, cancel) = self.engine.check(CheckRequestReading.input(request))
        let answer = try await withTaskCancellationHandler {
            try await verdict.get()
        } onCancel: {
            cancel()
        }
        return CheckRequestReading.response(answer)
    }
}
