import Logging
import PortcullisConfig
import PortcullisMock

/// Applying a reload (called only by the ``ConfigReloader``, one at a time, off the data-plane
/// loops): validate and compile first, bind what is new, then swap atomically. A config that
/// fails anywhere before the swap is refused and the running one keeps serving; requests in
/// flight finish on the snapshot they started with; no connection is dropped.
extension GatewayRuntime {
    func applyReload() async -> ReloadOutcome {
        guard !self.readiness.isDraining else {
            return self.refuse([Diagnostic(path: "$", line: nil, message: "the gateway is stopping")])
        }
        let config: ConfigSnapshot
        do {
            config = try self.loader.load()
        } catch {
            return self.refuse(error.diagnostics)
        }
        let current = self.store.current.config

        // What cannot change while running is refused, never silently kept.
        var problems: [Diagnostic] = []
        if current.admin?.host != config.admin?.host || current.admin?.port != config.admin?.port {
            problems.append(
                Diagnostic(path: "admin.address", line: nil, message: "changing the admin listener needs a restart (it is serving this reload)"))
        }
        if current.source.tracing != config.source.tracing {
            problems.append(
                Diagnostic(
                    path: "tracing", line: config.source.tracing?.location.line,
                    message: "changes to tracing need a restart (the exporter is built once)"))
        }
        if current.mock != config.mock {
            problems.append(Diagnostic(path: "mock", line: nil, message: "changes to the built-in mock need a restart"))
        }
        guard problems.isEmpty else { return self.refuse(problems) }

        // Listeners: bind what is new or moved before anything changes.
        let change: ListenerSet.Change
        do {
            change = try await self.listenerSet.prepare(config.listeners)
        } catch {
            return self.refuse([Diagnostic(path: "listeners", line: nil, message: "\(error)")])
        }
        let providers: JWTProviderRegistry.Plan
        do {
            providers = try await self.providers.prepare(config.authentication.jwtProviders)
        } catch {
            await self.listenerSet.rollback(change)
            return self.refuse([Diagnostic(path: "authentication.jwt", line: nil, message: "\(error)")])
        }
        if config.accessLog.destination != current.accessLog.destination {
            // Lines already buffered belong to the old destination.
            await self.server.flushAccessLogs()
            do {
                try self.accessLog.reopen(config.accessLog.destination)
            } catch {
                await self.providers.discard(providers)
                await self.listenerSet.rollback(change)
                return self.refuse([
                    Diagnostic(
                        path: config.accessLog.location?.path ?? "accessLog.destination", line: config.accessLog.location?.line,
                        message: "\(error)")
                ])
            }
        }
        guard !self.readiness.isDraining else {
            await self.providers.discard(providers)
            await self.listenerSet.rollback(change)
            return self.refuse([Diagnostic(path: "$", line: nil, message: "the gateway is stopping")])
        }

        // The swap: one reference; requests in flight keep the snapshot they started with.
        self.store.replace(with: GatewaySnapshot.build(
                config, providers: providers.next, slots: self.slots, series: self.series, tracer: self.tracer,
                authorizationClient: self.authorizationClient, grpcAuthorization: self.services.grpcAuthorization, limits: self.services.limits,
                sharedLimits: self.services.sharedLimits.store(
                    for: config.source.limitStore.redis, group: self.server.group, logger: self.logger),
                upstreams: self.services.upstreams, wallClock: self.wallClock))
        await self.providers.commit(providers)
        await self.listenerSet.commit(change)
        for store in self.listenerSet.tlsStores { store.reloadIfChanged(force: true) }
        self.services.upstreamTLS.reload()
        self.logger.info(
            "config reloaded",
            metadata: [
                "generation": "\(self.store.generation)", "routes": "\(config.source.routes.count)",
                "listeners": "\(config.listeners.count)",
            ])
        return .reloaded(generation: self.store.generation)
    }

    private func refuse(_ problems: [Diagnostic]) -> ReloadOutcome {
        self.logger.error("config reload refused; the previous config stays", metadata: ["problems": "\(problems.count)"])
        for problem in problems { self.logger.error("\(problem)") }
        return .refused(problems)
    }
}

extension MockSpec {
    /// The in-process mock's options for this section.
    var options: MockOptions {
        var options = MockOptions()
        options.models = self.models
        options.chunks = self.chunks
        options.chunkDelay = .nanoseconds(self.chunkDelayNanos)
        options.record = false
        return options
    }
}
