import Logging
import NIOCore
import NIOPosix
import PortcullisConfig

/// A config's pipeline with no listener, for `explain` and `bench-stages`: the snapshot built
/// as `serve` builds it (remote JWKS fetched once), one event loop to run on, and an access log
/// that writes nothing. Everything it starts is shut down before it returns.
enum OfflinePipeline {
    static func run<T: Sendable>(
        _ config: ConfigSnapshot, label: String,
        _ body: @escaping @Sendable (GatewaySnapshot, LoopContext) throws -> EventLoopFuture<T>
    ) async throws -> T {
        let registry = JWTProviderRegistry(logger: Logger(label: label))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let providers = try await registry.reconcile(config.authentication.jwtProviders)
            let snapshot = GatewaySnapshot.build(config, providers: providers)
            let loop = group.next()
            let sink = try AccessLogSink(destination: "off")
            let result = try await loop.flatSubmit {
                let context = LoopContext(
                    eventLoop: loop, store: SnapshotStore(snapshot), services: GatewayServices(),
                    accessLog: AccessLogWriter(sink: sink, eventLoop: loop))
                do {
                    return try body(snapshot, context)
                } catch {
                    return loop.makeFailedFuture(error)
                }
            }.get()
            await registry.shutdown()
            try await group.shutdownGracefully()
            return result
        } catch {
            await registry.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
    }
}
