import Logging
import NIOCore
import PortcullisConfig
import PortcullisHTTP
import PortcullisMock

/// Where the config comes from.
public enum ConfigSource: Sendable {
    case file(String)
    case yaml(String)
    /// The embedded quickstart.
    case quickstart
}

/// A running gateway: data listeners, admin listener, the in-process mock when the config asks
/// for one, and the snapshot store that reloads swap. Used by `portcullis serve` and by tests
/// that run the gateway in-process.
public final class GatewayRuntime: Sendable {
    public let store: SnapshotStore
    public let server: GatewayServer
    public let listeners: [GatewayServer.BoundListener]
    public let admin: EmbeddedHTTPServer?
    public let mock: MockBackend?
    public let source: ConfigSource
    let loader: ConfigLoader
    let logger: Logger
    let providers: JWTProviderRegistry
    let wallClock: @Sendable () -> Double
    let services: GatewayServices

    private init(
        store: SnapshotStore, server: GatewayServer, listeners: [GatewayServer.BoundListener], admin: EmbeddedHTTPServer?,
        mock: MockBackend?, source: ConfigSource, loader: ConfigLoader, logger: Logger, providers: JWTProviderRegistry,
        wallClock: @escaping @Sendable () -> Double, services: GatewayServices
    ) {
        self.providers = providers
        self.services = services
        self.wallClock = wallClock
        self.store = store
        self.server = server
        self.listeners = listeners
        self.admin = admin
        self.mock = mock
        self.source = source
        self.loader = loader
        self.logger = logger
    }

    /// Loads and compiles the config, starts the in-process mock if configured, binds every
    /// listener and the admin listener.
    public static func start(
        source: ConfigSource, group: any EventLoopGroup, logger: Logger,
        environment: [String: String], services: GatewayServices = GatewayServices(),
        wallClock: @escaping @Sendable () -> Double = { Double(Exchange.wallClockMillis()) / 1000 }
    ) async throws -> GatewayRuntime {
        let yaml = try Self.readSource(source)
        let (file, readProblems) = try ConfigReader(environment: environment).readCollecting(yaml: yaml)
        var mock: MockBackend?
        var compiler = ConfigCompiler()
        if let mockSpec = file.mock {
            var options = MockOptions()
            options.models = mockSpec.models
            options.chunks = mockSpec.chunks
            options.chunkDelay = .nanoseconds(mockSpec.chunkDelayNanos)
            options.record = false
            let backend = try await MockBackend.start(host: "127.0.0.1", port: 0, group: group, options: options)
            mock = backend
            compiler.builtinMockAddress = ("127.0.0.1", backend.port)
        }
        let loader = ConfigLoader(environment: environment, compiler: compiler)
        let config = try loader.compile(file, readProblems: readProblems)
        let registry = JWTProviderRegistry(logger: logger)
        let providers = try registry.reconcile(config.authentication.jwtProviders)
        let store = SnapshotStore(GatewaySnapshot.build(config, providers: providers, wallClock: wallClock))
        let sink = try AccessLogSink(destination: config.accessLog.destination)
        let server = GatewayServer(group: group, store: store, services: services, accessLog: sink, logger: logger)
        var bound: [GatewayServer.BoundListener] = []
        for listener in config.listeners {
            bound.append(try await server.bind(listener))
        }
        let runtimeBox = RuntimeBox()
        var admin: EmbeddedHTTPServer?
        if let adminSpec = config.admin {
            admin = try await AdminServer.start(host: adminSpec.host, port: adminSpec.port, group: group, runtime: runtimeBox)
        }
        let runtime = GatewayRuntime(
            store: store, server: server, listeners: bound, admin: admin, mock: mock, source: source, loader: loader,
            logger: logger, providers: registry, wallClock: wallClock, services: services)
        runtimeBox.set(runtime)
        return runtime
    }

    static func readSource(_ source: ConfigSource) throws -> String {
        switch source {
        case .quickstart: return Quickstart.yaml
        case .yaml(let yaml): return yaml
        case .file(let path):
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError([Diagnostic(path: "$", line: nil, message: "cannot read config file '\(path)'")])
            }
        }
    }

    /// Re-reads and recompiles the config and swaps the snapshot. In-flight requests finish on
    /// the snapshot they started with. Listener and admin addresses need a restart to change.
    @discardableResult
    public func reload() -> Result<Void, ConfigError> {
        do {
            let yaml = try Self.readSource(self.source)
            let snapshot = try self.loader.load(yaml: yaml)
            let providers = try self.providers.reconcile(snapshot.authentication.jwtProviders)
            self.store.replace(with: GatewaySnapshot.build(snapshot, providers: providers, wallClock: self.wallClock))
            for listener in self.listeners { listener.tls?.reloadIfChanged(force: true) }
            self.services.upstreamTLS.reload()
            self.logger.info("config reloaded", metadata: ["routes": "\(snapshot.source.routes.count)"])
            return .success(())
        } catch let error as ConfigError {
            self.logger.error("config reload refused; the previous config stays", metadata: ["problems": "\(error.diagnostics.count)"])
            for diagnostic in error.diagnostics { self.logger.error("\(diagnostic)") }
            return .failure(error)
        } catch {
            return .failure(ConfigError([Diagnostic(path: "$", line: nil, message: "reload failed")]))
        }
    }

    /// Runs the background work (JWKS refreshes, TLS certificate checks) until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.providers.run() }
            let stores = self.listeners.compactMap(\.tls).filter { $0.spec.reloadIntervalNanos > 0 }
            for store in stores {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(store.spec.reloadIntervalNanos))
                        if Task.isCancelled { break }
                        store.reloadIfChanged()
                    }
                }
            }
            await group.waitForAll()
        }
    }

    /// Ready when every JWT provider has keys.
    public var isReady: Bool {
        self.providers.all.allSatisfy { $0.currentKeys() != nil }
    }

    /// Stops accepting, lets the loops flush their logs and closes everything.
    public func shutdown() async {
        await self.providers.shutdown()
        for listener in self.listeners {
            try? await listener.channel.close()
        }
        await self.admin?.close()
        await self.server.drainLoops()
        await self.mock?.close()
    }
}

import NIOConcurrencyHelpers

/// Lets the admin server reach the runtime that is created after it.
final class RuntimeBox: Sendable {
    private let box = NIOLockedValueBox<GatewayRuntime?>(nil)
    func set(_ runtime: GatewayRuntime) { self.box.withLockedValue { $0 = runtime } }
    var runtime: GatewayRuntime? { self.box.withLockedValue { $0 } }
}
