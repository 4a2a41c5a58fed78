import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PortcullisConfig
import PortcullisGateway
import ServiceLifecycle

/// The ext-authz stage's gRPC transport: one `GRPCClient` (one HTTP/2 connection, many
/// concurrent calls) per policy service address, made on first use and kept for the process
/// (reloads keep them: a client is runtime state, found by address). Each call has the
/// service's timeout as its gRPC deadline (`grpc-timeout`); cancelling the call's task (the
/// client left) cancels the RPC.
public final class GRPCAuthorizationTransport: GRPCCheckTransport, Service {
    private struct Entry {
        let client: GRPCClient<HTTP2ClientTransport.Posix>
        let connections: Task<Void, Never>
    }

    private let group: MultiThreadedEventLoopGroup
    private let clients = NIOLockedValueBox<[String: Entry]>([:])
    private let closed = NIOLockedValueBox(false)

    public init(group: MultiThreadedEventLoopGroup) {
        self.group = group
    }

    public func check(_ call: GRPCCheckCall, endpoint: UpstreamEndpoint, timeout: TimeAmount, on loop: any EventLoop) -> GRPCCheckPending {
        let promise = loop.makePromise(of: GRPCCheckAnswer.self)
        guard let client = try? self.client(for: endpoint) else {
            promise.succeed(.failed(.unreachable))
            return GRPCCheckPending(answer: promise.futureResult, cancel: {})
        }
        let request = CheckCallWriting.request(call)
        let task = Task {
            var options = CallOptions.defaults
            options.timeout = .nanoseconds(timeout.nanoseconds)
            do {
                let response = try await Envoy_Service_Auth_V3_Authorization.Client(wrapping: client).check(request, options: options)
                promise.succeed(CheckCallWriting.answer(response))
            } catch let error as RPCError {
                switch error.code {
                case .deadlineExceeded: promise.succeed(.failed(.timeout))
                case .unavailable, .cancelled: promise.succeed(.failed(.unreachable))
                case .resourceExhausted: promise.succeed(.failed(.oversized))
                default: promise.succeed(.failed(.serverError))
                }
            } catch {
                promise.succeed(.failed(.unreachable))
            }
        }
        return GRPCCheckPending(answer: promise.futureResult, cancel: { task.cancel() })
    }

    private func client(for endpoint: UpstreamEndpoint) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
        let key = "\(endpoint.host):\(endpoint.port)"
        return try self.clients.withLockedValue { clients in
            if let entry = clients[key] { return entry.client }
            guard !self.closed.withLockedValue({ $0 }) else { throw RPCError(code: .unavailable, message: "shutting down") }
            let transport = try HTTP2ClientTransport.Posix(
                target: Self.target(host: endpoint.host, port: endpoint.port), transportSecurity: .plaintext,
                config: .defaults { $0.backoff.initial = .milliseconds(50); $0.backoff.max = .seconds(2) },
                eventLoopGroup: self.group)
            let client = GRPCClient(transport: transport)
            let connections = Task { _ = try? await client.runConnections() }
            clients[key] = Entry(client: client, connections: connections)
            return client
        }
    }

    /// An IP literal as itself, any other host name through DNS (re-resolved on reconnect).
    static func target(host: String, port: Int) -> any ResolvableTarget {
        guard let literal = try? NIOCore.SocketAddress(ipAddress: host, port: port) else {
            return ResolvableTargets.DNS.dns(host: host, port: port)
        }
        if case .v6 = literal { return ResolvableTargets.IPv6.ipv6(address: host, port: port) }
        return ResolvableTargets.IPv4.ipv4(address: host, port: port)
    }

    /// Waits for the graceful stop (after the listeners have drained), then closes every client.
    public func run() async {
        try? await gracefulShutdown()
        self.closed.withLockedValue { $0 = true }
        let entries = self.clients.withLockedValue { Array($0.values) }
        for entry in entries { entry.client.beginGracefulShutdown() }
        for entry in entries { await entry.connections.value }
    }
}
