import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import ServiceLifecycle

/// The data listeners as one `Service`: bound at start (so a busy port fails the start, naming
/// the address), reconciled by name on reload, and drained on a graceful stop.
///
/// A reload binds what is new before anything changes (``prepare(_:)``); a listener that keeps
/// its address keeps its socket and gets its new TLS and HTTP/2 settings in place; one that
/// moves is bound anew and the old socket closed after the swap (``commit(_:)``); existing
/// connections of a retired socket finish normally. The drain: `/readyz` fails, every socket
/// stops accepting, every connection is told to quiesce (HTTP/1.1 answers with `Connection:
/// close` or closes when idle; HTTP/2 sends GOAWAY), in-flight requests finish up to the drain
/// timeout, and whatever is left is then ended.
final class ListenerSet: Service, Sendable {
    private let server: GatewayServer
    private let readiness: Readiness
    private let logger: Logger
    private let listeners: NIOLockedValueBox<[BoundListener]>
    /// A cap on the drain timeout (tests stop in-process gateways quickly).
    private let drainLimit: NIOLockedValueBox<TimeAmount?> = NIOLockedValueBox(nil)

    private init(server: GatewayServer, readiness: Readiness, logger: Logger, listeners: [BoundListener]) {
        self.server = server
        self.readiness = readiness
        self.logger = logger
        self.listeners = NIOLockedValueBox(listeners)
    }

    /// Binds every listener; on failure closes the ones already bound and throws.
    static func start(_ specs: [ListenerSpec], server: GatewayServer, readiness: Readiness, logger: Logger) async throws -> ListenerSet {
        var bound: [BoundListener] = []
        do {
            for spec in specs {
                bound.append(try await server.bind(spec, binding: ListenerBinding(try Self.settings(for: spec, logger: logger))))
            }
        } catch {
            for listener in bound { try? await listener.channel.close() }
            throw error
        }
        return ListenerSet(server: server, readiness: readiness, logger: logger, listeners: bound)
    }

    static func settings(for spec: ListenerSpec, logger: Logger) throws -> ListenerBinding.Settings {
        let tls = try spec.tls.map { try TLSContextStore(spec: $0, offersHTTP2: spec.http2.enabled, logger: logger) }
        return ListenerBinding.Settings(name: spec.name, tls: tls, http2: spec.http2)
    }

    var current: [BoundListener] { self.listeners.withLockedValue { $0 } }

    var tlsStores: [TLSContextStore] { self.current.compactMap { $0.binding.settings.tls } }

    func limitDrain(to limit: TimeAmount) {
        self.drainLimit.withLockedValue { $0 = limit }
    }

    // MARK: Reload

    struct Change {
        var next: [BoundListener] = []
        var opened: [BoundListener] = []
        var retired: [BoundListener] = []
        var updates: [(ListenerBinding, ListenerBinding.Settings)] = []
    }

    /// Binds what `specs` adds or moves; nothing visible changes until ``commit(_:)``.
    func prepare(_ specs: [ListenerSpec]) async throws -> Change {
        let current = self.current
        var change = Change()
        do {
            for spec in specs {
                let settings = try Self.settings(for: spec, logger: self.logger)
                let sameName = current.first { $0.name == spec.name }
                // A listener renamed in place keeps its socket (its old name is gone from the config).
                let sameAddress = current.first { old in
                    old.spec.host == spec.host && old.spec.port == spec.port && spec.port != 0
                        && !specs.contains { $0.name == old.name }
                }
                if let existing = sameName.flatMap({ $0.spec.host == spec.host && $0.spec.port == spec.port ? $0 : nil }) ?? sameAddress {
                    change.updates.append((existing.binding, settings))
                    change.next.append(BoundListener(spec: spec, channel: existing.channel, binding: existing.binding))
                } else {
                    let listener = try await self.server.bind(spec, binding: ListenerBinding(settings))
                    change.opened.append(listener)
                    change.next.append(listener)
                }
            }
        } catch {
            await self.rollback(change)
            throw error
        }
        change.retired = current.filter { old in !change.next.contains { $0.channel === old.channel } }
        return change
    }

    func commit(_ change: Change) async {
        for (binding, settings) in change.updates { binding.update(settings) }
        self.listeners.withLockedValue { $0 = change.next }
        for listener in change.retired {
            self.logger.info("listener closed", metadata: ["listener": "\(listener.name)", "address": "\(listener.address)"])
            try? await listener.channel.close()
        }
        for listener in change.opened {
            self.logger.info("listener opened", metadata: ["listener": "\(listener.name)", "port": "\(listener.port)"])
        }
    }

    func rollback(_ change: Change) async {
        for listener in change.opened { try? await listener.channel.close() }
    }

    // MARK: Service

    func run() async throws {
        try? await gracefulShutdown()
        await self.drain()
    }

    func drain() async {
        self.readiness.startDraining()
        let configured = TimeAmount.nanoseconds(self.server.store.current.config.http.drainTimeoutNanos)
        let timeout = self.drainLimit.withLockedValue { $0 }.map { min($0, configured) } ?? configured
        // The listeners close first: once "draining" is logged, no connection is accepted.
        for listener in self.current { try? await listener.channel.close() }
        let open = self.server.connections.count
        self.logger.info("draining", metadata: ["connections": "\(open)", "timeout": "\(timeout)"])
        await self.server.markDraining()
        for channel in self.server.connections.all {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let tracker = self.server.connections
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await tracker.waitUntilEmpty() }
            group.addTask { try? await Task.sleep(nanoseconds: UInt64(max(0, timeout.nanoseconds))) }
            await group.next()
            tracker.releaseWaiters()
            group.cancelAll()
        }
        let left = tracker.all
        if !left.isEmpty {
            self.logger.warning("drain timeout: ending the connections still open", metadata: ["connections": "\(left.count)"])
            // Each open exchange settles as ended by the drain, then its connection closes.
            await self.server.endForDrain()
            for channel in left { channel.close(promise: nil) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await tracker.waitUntilEmpty() }
                group.addTask { try? await Task.sleep(nanoseconds: 2_000_000_000) }
                await group.next()
                tracker.releaseWaiters()
                group.cancelAll()
            }
        }
        await self.server.flushAndClosePools()
        self.logger.info("drained")
    }
}
