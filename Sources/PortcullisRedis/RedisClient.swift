import Atomics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small Redis client for the limiter: a fixed pool of pipelined connections, each
/// reconnecting with backoff (``RedisLinkStateMachine``), and commands with a deadline.
///
/// Written by hand because no maintained Swift Redis client is available to the project; it
/// covers only what the limiter needs (RESP2 commands, `EVALSHA` with an `EVAL` fallback, a
/// handshake that authenticates, selects the database and loads the scripts).
///
/// A command never waits for a connection: when none is up it fails at once with
/// ``RedisError/unavailable``. A command that gets no answer within its timeout fails with
/// ``RedisError/timeout``, and its connection is closed and reconnected: a server that stalls
/// (paused, swapping) is treated like one that is gone, and the commands queued behind the
/// stalled one fail with it rather than each waiting out its own timeout.
public final class RedisClient: Sendable {
    public let configuration: RedisClientConfiguration
    private let links: [RedisLink]
    private let cursor = ManagedAtomic<Int>(0)
    /// Links up, and what was last reported to `onHealthChange` (-1 nothing yet, 0 down, 1 up):
    /// changed together under one lock, so two links changing at once cannot report out of order.
    private let health = NIOLockedValueBox<(up: Int, reported: Int)>((0, -1))
    /// Called once per change: up, or down with the cause (`connection refused`, `handshake
    /// refused: WRONGPASS`, `no answer in time`…; never a server's whole error text).
    private let onHealthChange: @Sendable (Bool, String?) -> Void
    /// The scripts' SHA1 digests, as the server computed them when they were loaded.
    let digests = NIOLockedValueBox<[String]>([])

    public init(
        configuration: RedisClientConfiguration, group: any EventLoopGroup, onHealthChange: @escaping @Sendable (Bool, String?) -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.onHealthChange = onHealthChange
        self.links = (0..<max(configuration.connections, 1)).map { _ in RedisLink(loop: group.next(), configuration: configuration) }
        for link in self.links { link.client = self }
    }

    /// Opens the connections (in the background: commands fail as unavailable until one is up).
    public func start() {
        for link in self.links { link.start() }
    }

    /// Whether any connection is up.
    public var isUp: Bool { self.health.withLockedValue { $0.up > 0 } }

    /// Sends `command` and returns its answer on `loop`. Commands with the same `affinity` go
    /// on the same connection while it is up, so Redis runs them in the order they were sent
    /// (a request's release before the same tenant's next check); nil: round robin.
    public func send(
        _ command: RESPCommand, on loop: any EventLoop, timeout: TimeAmount, affinity: Int? = nil
    ) -> EventLoopFuture<RESPValue> {
        guard let link = self.pick(affinity) else { return loop.makeFailedFuture(RedisError.unavailable) }
        return link.send(command.encoded, on: loop, timeout: timeout)
    }

    /// Runs loaded script number `script` with `EVALSHA`; if the server has lost it (`SCRIPT
    /// FLUSH`, a failover to a replica that never loaded it), once more with `EVAL`.
    public func evaluate(
        script: Int, keys: [String], arguments: [String], on loop: any EventLoop, timeout: TimeAmount, affinity: Int? = nil
    ) -> EventLoopFuture<RESPValue> {
        let digest = self.digests.withLockedValue { script < $0.count ? $0[script] : nil }
        let source = self.configuration.scripts[script]
        guard let digest else {
            return self.send(Self.script("EVAL", source, keys: keys, arguments: arguments), on: loop, timeout: timeout, affinity: affinity)
        }
        // One deadline for both tries: the retry gets only what is left.
        let deadline = NIODeadline.now() + timeout
        return self.send(Self.script("EVALSHA", digest, keys: keys, arguments: arguments), on: loop, timeout: timeout, affinity: affinity)
            .flatMap { value in
            if case .error(let message) = value, message.hasPrefix("NOSCRIPT") {
                let left = deadline - NIODeadline.now()
                guard left > .zero else { return loop.makeFailedFuture(RedisError.timeout) }
                return self.send(Self.script("EVAL", source, keys: keys, arguments: arguments), on: loop, timeout: left, affinity: affinity)
            }
            return loop.makeSucceededFuture(value)
        }
    }

    private static func script(_ name: String, _ first: String, keys: [String], arguments: [String]) -> RESPCommand {
        var command = RESPCommand(name, capacity: 64 + (keys.count + arguments.count) * 24)
        command.append(first)
        command.append(keys.count)
        for key in keys { command.append(key) }
        for argument in arguments { command.append(argument) }
        return command
    }

    /// Closes every connection; commands fail as ``RedisError/unavailable`` from now on.
    public func shutdown() async {
        for link in self.links { await link.shutdown() }
    }

    /// The link for `affinity` if it is up, else the next ready one, round robin (nil: none is up).
    private func pick(_ affinity: Int?) -> RedisLink? {
        let count = self.links.count
        let start = affinity.map { Int(UInt(bitPattern: $0) % UInt(count)) } ?? self.cursor.loadThenWrappingIncrement(ordering: .relaxed)
        for offset in 0..<count {
            let link = self.links[(start &+ offset) % count]
            if link.isReady { return link }
        }
        return nil
    }

    func linkChanged(up: Bool, cause: String? = nil) {
        self.report(cause: cause) { $0.up += up ? 1 : -1 }
    }

    /// A link failed to connect: reported as down only if nothing is up.
    func attemptFailed(cause: String) {
        self.report(cause: cause) { _ in }
    }

    /// The change is decided and reported under the lock, so reports never cross.
    private func report(cause: String?, _ change: (inout (up: Int, reported: Int)) -> Void) {
        self.health.withLockedValue { health in
            change(&health)
            let value = health.up > 0 ? 1 : 0
            guard value != health.reported else { return }
            health.reported = value
            self.onHealthChange(value == 1, value == 1 ? nil : cause)
        }
    }
}
