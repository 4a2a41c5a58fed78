/// The life of one pooled connection to Redis: connect, serve, and after a failure back off and
/// reconnect, for ever, until the client shuts down. Pure: events in, actions out, so the
/// backoff schedule is tested without a socket or a clock.
///
/// A link is usable only when `ready` (connected, authenticated, scripts loaded). While it
/// connects or backs off, commands are not queued behind it: they fail at once with
/// ``RedisError/unavailable``, so a request never waits for a reconnect (the limit stage falls
/// back instead). Backoff doubles from ``baseBackoffNanos`` to ``maxBackoffNanos``, scaled by a
/// jitter in [0.5, 1) so replicas do not reconnect in step.
public struct RedisLinkStateMachine: Sendable {
    public enum State: Sendable, Equatable {
        case idle
        /// A connection attempt (the count of failed attempts before it).
        case connecting(failures: Int)
        case ready
        case backingOff(failures: Int)
        case shutdown
    }

    public enum Action: Sendable, Equatable {
        case none
        case connect
        /// Connected: count the link as up.
        case markUp
        /// Try again after the delay. `wasUp`: the link had been up (count it as down).
        case reconnect(afterNanos: Int64, wasUp: Bool)
        /// Close the connection, if any.
        case close
    }

    public static let baseBackoffNanos: Int64 = 100_000_000
    public static let maxBackoffNanos: Int64 = 2_000_000_000

    public private(set) var state: State = .idle

    public init() {}

    public var isReady: Bool { self.state == .ready }

    public mutating func start() -> Action {
        guard self.state == .idle else { return .none }
        self.state = .connecting(failures: 0)
        return .connect
    }

    /// Connected and handshaken.
    public mutating func connected() -> Action {
        guard case .connecting = self.state else { return .close }
        self.state = .ready
        return .markUp
    }

    /// The attempt failed (refused, timed out, or the handshake was refused). `jitter` in [0, 1).
    public mutating func connectFailed(jitter: Double) -> Action {
        guard case .connecting(let failures) = self.state else { return .none }
        self.state = .backingOff(failures: failures + 1)
        return .reconnect(afterNanos: Self.backoff(failures: failures, jitter: jitter), wasUp: false)
    }

    /// A ready connection closed or broke (or was closed because it stalled).
    public mutating func closed(jitter: Double) -> Action {
        guard self.state == .ready else { return .none }
        self.state = .backingOff(failures: 1)
        return .reconnect(afterNanos: Self.backoff(failures: 0, jitter: jitter), wasUp: true)
    }

    public mutating func reconnectDue() -> Action {
        guard case .backingOff(let failures) = self.state else { return .none }
        self.state = .connecting(failures: failures)
        return .connect
    }

    public mutating func shutdown() -> Action {
        self.state = .shutdown
        return .close
    }

    /// The delay before attempt `failures + 1`.
    public static func backoff(failures: Int, jitter: Double) -> Int64 {
        let doubled = Self.baseBackoffNanos << Int64(min(failures, 16))
        let capped = min(doubled, Self.maxBackoffNanos)
        let scale = 0.5 + min(max(jitter, 0), 0.999_999) / 2
        return Int64(Double(capped) * scale)
    }
}
