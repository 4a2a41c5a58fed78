import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle
import UnixSignals

/// A running gateway, assembled: the snapshot store that reloads swap, the data listeners,
/// the admin listener, the in-process mock when the config asks for one, and every long-lived
/// part as a `Service` of one `ServiceGroup` (``run()``). Used by `portcullis serve` and by
/// tests that run the gateway in-process.
///
/// Start-up binds every listener before `run()`, so a config that cannot serve (a busy port,
/// an unreadable certificate) fails the start with the path and address at fault.
public final class GatewayRuntime: Sendable {
    /// What the process wires around the runtime.
    public struct Options: Sendable {
        /// Signals that start the graceful stop (`serve`: SIGTERM, SIGINT; tests: none).
        public var gracefulShutdownSignals: [UnixSignal] = []
        /// Reload on SIGHUP (`serve` only: a test process must not trap it).
        public var reloadOnSIGHUP = false

        public init(gracefulShutdownSignals: [UnixSignal] = [], reloadOnSIGHUP: Bool = false) {
            self.gracefulShutdownSignals = gracefulShutdownSignals
            self.reloadOnSIGHUP = reloadOnSIGHUP
        }
    }

    public let store: SnapshotStore
    public let readiness: Readiness
    public let admin: EmbeddedHTTPServer?
    public let mock: MockBackend?
    public let source: ConfigSource
    let server: GatewayServer
    let listenerSet: ListenerSet
    let loader: GatewayConfigLoader
    let logger: Logger
    let providers: JWTProviderRegistry
    let slots: BackendSlots
    let series: MetricSeries
    /// The OpenTelemetry tracer (nil: `tracing:` is not configured).
    let tracer: GatewayTracer?
    /// External authorization checks go through it.
    let authorizationClient: HTTPClient
    let wallClock: @Sendable () -> Double
    let services: GatewayServices
    let accessLog: AccessLogSink
    /// Answers ext_authz checks when `authz:` is configured.
    public let checkEngine: CheckEngine?
    let reloader: NIOLockedValueBox<ConfigReloader?> = NIOLockedValueBox(nil)
    let group: NIOLockedValueBox<ServiceGroup?> = NIOLockedValueBox(nil)
    private let onRunning = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    private init(
        store: SnapshotStore, readiness: Readiness, server: GatewayServer, listenerSet: ListenerSet, admin: EmbeddedHTTPServer?,
        mock: MockBackend?, source: ConfigSource, loader: GatewayConfigLoader, logger: Logger, providers: JWTProviderRegistry,
        slots: BackendSlots, series: MetricSeries, tracer: GatewayTracer?, authorizationClient: HTTPClient,
        wallClock: @escaping @Sendable () -> Double, services: GatewayServices, accessLog: AccessLogSink,
        checkEngine: CheckEngine?
    ) {
        self.authorizationClient = authorizationClient
        self.store = store
        self.readiness = readiness
        self.server = server
        self.listenerSet = listenerSet
        self.admin = admin
        self.mock = mock
        self.source = source
        self.loader = loader
        self.logger = logger
        self.providers = providers
        self.slots = slots
        self.series = series
        self.tracer = tracer
        self.wallClock = wallClock
        self.services = services
        self.accessLog = accessLog
        self.checkEngine = checkEngine
    }

    /// Loads, compiles and checks the config, starts the in-process mock if configured, binds
    /// every listener and the admin listener, and assembles the services. Throws
    /// `ConfigError` (every problem, with path and line) or ``StartupError`` (what could not
    /// start, and where).
    public static func start(
        source: ConfigSource, group: any EventLoopGroup, logger: Logger,
        environment: [String: String], services: GatewayServices = GatewayServices(),
        wallClock: @escaping @Sendable () -> Double = { Double(Exchange.wallClockMillis()) / 1000 },
        options: Options = Options()
    ) async throws -> GatewayRuntime {
        // Trapped before anything is bound: a SIGHUP during start-up is queued for the
        // reloader rather than ending the process (its default action).
        let sighup = options.reloadOnSIGHUP ? await UnixSignalsSequence(trapping: .sighup) : nil
        var loader = GatewayConfigLoader(source: source, environment: environment)
        let read = try loader.read()
        var mock: MockBackend?
        if let mockSpec = read.file.mock {
            do {
                let backend = try await MockBackend.start(host: "127.0.0.1", port: 0, group: group, options: mockSpec.options)
                mock = backend
                loader.builtinMockAddress = ("127.0.0.1", backend.port)
            } catch {
                throw StartupError.mock(error)
            }
        }
        var opened: [@Sendable () async -> Void] = []
        if let mock { opened.append { await mock.close() } }
        do {
            let config = try loader.compile(read)
            let registry = JWTProviderRegistry(logger: logger)
            opened.append { await registry.shutdown() }
            let providers = try await registry.reconcile(config.authentication.jwtProviders)
            let slots = BackendSlots()
            let series = MetricSeries()
            var tracer: GatewayTracer?
            if let spec = config.source.tracing {
                do {
                    tracer = try GatewayTracer(spec: spec, logger: logger)
                } catch {
                    throw StartupError.tracing(endpoint: spec.endpoint, error)
                }
            }
            var clientConfiguration = HTTPClient.Configuration()
            clientConfiguration.connectionPool.idleTimeout = .seconds(30)
            // A policy's redirect is its answer, never followed (a followed 302 to a login page
            // would read as 200, and a 307 would resend the check elsewhere).
            clientConfiguration.redirectConfiguration = .disallow
            let authorizationClient = HTTPClient(eventLoopGroup: group, configuration: clientConfiguration)
            opened.append { try? await authorizationClient.shutdown() }
            let store = SnapshotStore(
                GatewaySnapshot.build(
                    config, providers: providers, slots: slots, series: series, tracer: tracer,
                    authorizationClient: authorizationClient, grpcAuthorization: services.grpcAuthorization, limits: services.limits,
                    sharedLimits: services.sharedLimits.store(for: config.source.limitStore.redis, group: group, logger: logger),
                    upstreams: services.upstreams, wallClock: wallClock))
            let sink: AccessLogSink
            do {
                sink = try AccessLogSink(destination: config.accessLog.destination)
            } catch {
                throw StartupError.accessLog(path: config.accessLog.location?.path ?? "accessLog.destination", error)
            }
            let readiness = Readiness()
            let server = GatewayServer(group: group, store: store, services: services, accessLog: sink, logger: logger)
            let listenerSet = try await ListenerSet.start(config.listeners, server: server, readiness: readiness, logger: logger)
            opened.append { for listener in listenerSet.current { try? await listener.channel.close() } }
            let box = RuntimeBox()
            var admin: EmbeddedHTTPServer?
            if let adminSpec = config.admin {
                do {
                    admin = try await AdminServer.start(host: adminSpec.host, port: adminSpec.port, group: group, runtime: box)
                } catch {
                    throw StartupError.adminBind(address: "\(adminSpec.host):\(adminSpec.port)", error)
                }
            }
            let runtime = GatewayRuntime(
                store: store, readiness: readiness, server: server, listenerSet: listenerSet, admin: admin, mock: mock,
                source: source, loader: loader, logger: logger, providers: registry, slots: slots, series: series,
                tracer: tracer, authorizationClient: authorizationClient, wallClock: wallClock,
                services: services, accessLog: sink,
                checkEngine: config.source.authz.map { CheckEngine(contexts: server.contexts, group: group, spec: $0) })
            box.set(runtime)
            runtime.assemble(config: config, options: options, sighup: sighup)
            return runtime
        } catch {
            for close in opened.reversed() { await close() }
            throw error
        }
    }

    /// Builds the service group. Order matters: the group stops services in reverse, so the
    /// reloader stops first (no reload during the drain), then the listeners drain (with the
    /// admin still answering `/readyz`), then the admin, the watchers and refreshers, the mock,
    /// and last the access log's final flush.
    private func assemble(config: ConfigSnapshot, options: Options, sighup: UnixSignalsSequence?) {
        var watched: String?
        if case .file(let path) = self.source, config.source.reload.watch { watched = path }
        let reloader = ConfigReloader(
            watchedFile: watched, watchInterval: .nanoseconds(config.source.reload.intervalNanos),
            sighup: sighup, logger: self.logger, apply: { [self] in await self.applyReload() })
        self.reloader.withLockedValue { $0 = reloader }
        // First, so it stops last; it runs once the group traps its stop signals.
        var services: [any Service] = [RunningNotice { [self] in self.onRunning.withLockedValue { $0 }?() }]
        services.append(AccessLogService(server: self.server))
        // Stops after the listeners have drained: the last requests' spans are exported.
        if let tracer = self.tracer { services.append(tracer.service) }
        if let mock = self.mock { services.append(MockService(mock: mock)) }
        services.append(AuthorizationClientService(client: self.authorizationClient))
        // The gRPC ext_authz clients close after the listeners have drained, like the HTTP one.
        if let transport = self.services.grpcAuthorization as? any Service { services.append(transport) }
        // After the client it uses, so it stops first.
        services.append(HealthCheckService(store: self.store, client: self.authorizationClient, logger: self.logger))
        services.append(JWKSRefreshService(registry: self.providers))
        services.append(CertificateWatcher(listeners: self.listenerSet))
        if let admin = self.admin { services.append(AdminService(admin: admin)) }
        // Before the listeners: leases are renewed until the last stream has drained.
        services.append(LimitStoreService(stores: self.services.sharedLimits, loop: self.server.group.next()))
        if let spec = config.source.authz, let engine = self.checkEngine {
            if let factory = self.services.authzServer {
                // Beside the listeners, in the same graceful stop: it stops accepting checks, and
                // lets the ones in flight finish, when the group shuts down.
                // A check carries at most the largest body any route accepts, with room for its head.
                let bodies = config.source.routes.compactMap(\.maxRequestBytes) + [config.source.http.maxRequestBytes]
                services.append(
                    factory.makeServer(
                        host: spec.host, port: spec.port, maxPayload: (bodies.max() ?? 0) + 256 * 1024, engine: engine, logger: self.logger))
            } else {
                self.logger.warning("authz: is configured, but this process has no gRPC server to serve it")
            }
        }
        services.append(self.listenerSet)
        // Last, so it stops first: no reload can rebind a listener once the drain has begun.
        services.append(reloader)
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: options.gracefulShutdownSignals, logger: self.logger)
        // A service that does not stop within the drain timeout (and a margin) is cancelled.
        configuration.maximumGracefulShutdownDuration = .nanoseconds(config.http.drainTimeoutNanos) + .seconds(30)
        self.group.withLockedValue { $0 = ServiceGroup(configuration: configuration) }
    }

    /// Runs every service until the graceful stop has finished (a signal, or ``shutdown()``).
    /// `onRunning` is called once the services run, when the stop signals are already trapped
    /// (a banner printed from it promises that a SIGTERM drains).
    public func run(onRunning: (@Sendable () -> Void)? = nil) async throws {
        self.onRunning.withLockedValue { $0 = onRunning }
        guard let group = self.group.withLockedValue({ $0 }) else { return }
        try await group.run()
    }

    /// Starts the graceful stop; `drainLimit` caps the drain timeout (tests).
    public func shutdown(drainLimit: TimeAmount? = nil) async {
        if let drainLimit { self.listenerSet.limitDrain(to: drainLimit) }
        await self.group.withLockedValue({ $0 })?.triggerGracefulShutdown()
    }

    /// Ports the data listeners are bound to, in config order.
    public var listenerPorts: [Int] { self.listenerSet.current.map(\.port) }

    /// Exchanges in flight on every loop.
    public func inFlight() async -> Int {
        await self.server.inFlight()
    }

    /// Asks for a reload through the reloader's queue and waits for its outcome.
    public func reload() async -> ReloadOutcome {
        guard let reloader = self.reloader.withLockedValue({ $0 }) else {
            return .refused([Diagnostic(path: "$", line: nil, message: "the gateway is not running")])
        }
        let loop = self.server.group.next()
        return (try? await reloader.request(on: loop).get()) ?? .refused([])
    }

    // MARK: Readiness

    /// Ready when listening, not draining, and every JWT provider with a remote or file key
    /// source has obtained a key set. Names what it waits for.
    public var readinessReport: (ready: Bool, status: String, waitingFor: [String]) {
        if self.readiness.isDraining { return (false, "draining", []) }
        let waiting = self.providers.all.filter { !$0.hasKeys }.map { "jwks:\($0.name)" }.sorted()
        return waiting.isEmpty ? (true, "ready", []) : (false, "starting", waiting)
    }

    public var isReady: Bool { self.readinessReport.ready }

    var reloadCounts: (succeeded: Int, failed: Int) {
        guard let reloader = self.reloader.withLockedValue({ $0 }) else { return (0, 0) }
        return (reloader.succeeded.load(ordering: .relaxed), reloader.failed.load(ordering: .relaxed))
    }
}
