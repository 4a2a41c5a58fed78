import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOPosix
import PortcullisGateway
import ServiceLifecycle

/// The `envoy.service.auth.v3.Authorization` gRPC server (plaintext HTTP/2, as Envoy's
/// `envoy_grpc` cluster speaks it on loopback or in a mesh). Prints
/// `authz listening on HOST:PORT` once bound; stops accepting checks at the graceful stop and
/// lets the ones in flight finish.
struct AuthzGRPCServer: Service {
    let host: String
    let port: Int
    /// The largest `CheckRequest` read: a larger one is RESOURCE_EXHAUSTED.
    let maxPayload: Int
    /// Concurrent checks per HTTP/2 connection (Envoy opens another connection past it).
    let maxStreams = 1024
    let engine: CheckEngine
    let group: MultiThreadedEventLoopGroup
    let logger: Logger

    func run() async throws {
        // A host name (`localhost`) is resolved once, as the listeners' are.
        let resolved = try NIOCore.SocketAddress.makeAddressResolvingHost(self.host, port: self.port)
        let ip = resolved.ipAddress ?? self.host
        let isIPv6: Bool
        if case .v6 = resolved { isIPv6 = true } else { isIPv6 = false }
        let transport = HTTP2ServerTransport.Posix(
            address: isIPv6 ? .ipv6(host: ip, port: self.port) : .ipv4(host: ip, port: self.port), transportSecurity: .plaintext,
            config: .defaults {
                $0.rpc.maxRequestPayloadSize = self.maxPayload
                // Envoy multiplexes every check over few connections: bounded, like a listener's streams.
                $0.http2.maxConcurrentStreams = self.maxStreams
            }, eventLoopGroup: self.group)
        let server = GRPCServer(transport: transport, services: [CheckService(engine: self.engine)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let bound = try await server.listeningAddress {
                    let shown = bound.ipv4.map { "\($0.host):\($0.port)" } ?? bound.ipv6.map { "[\($0.host)]:\($0.port)" } ?? "\(bound)"
                    FileHandle.standardOutput.write(Data("authz listening on \(shown)\n".utf8))
                    self.logger.info("ext_authz gRPC server listening", metadata: ["address": "\(shown)"])
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
