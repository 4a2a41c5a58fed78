import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Retries in the lifecycle machine, without IO: after a failed connect or a listed status,
/// to the next endpoint at once while one is untried, then after the backoff; never once a
/// response reached the client; never beyond the attempts; stale completions ignored.
extension LifecycleStateMachineTests {
    static let threeRetries = Machine.RetryPolicy(maxAttempts: 4, onConnectFailure: true, statuses: [502, 503, 504])

    @Test func aFailedConnectGoesToTheNextEndpointAtOnceThenBacksOff() {
        var (m, first) = Self.forwarding(endpoints: 2, retries: Self.threeRetries)
        m.connectStarted(first, now: Self.t0, connectTimeout: .seconds(2))
        #expect(m.retryPossible(after: .connectFailure))
        guard case .retryNow(let second, abandonUpstream: false) = m.retry(after: .connectFailure, now: Self.t0, backoff: .milliseconds(40))
        else {
            Issue.record("no immediate retry")
            return
        }
        #expect(second.attempt == 1 && !m.isCurrent(first) && m.isCurrent(second))
        m.connectStarted(second, now: Self.t0, connectTimeout: .seconds(2))
        // Both endpoints tried: the third attempt waits out its backoff.
        #expect(m.retry(after: .connectFailure, now: Self.t0, backoff: .milliseconds(40)) == .retryLater(abandonUpstream: false))
        #expect(m.nextDeadline()! == (Self.t0 + .milliseconds(40), .retryBackoff))
        #expect(m.timerFired(now: Self.t0 + .milliseconds(39)) == .none)
        guard case .connect(let third) = m.timerFired(now: Self.t0 + .milliseconds(40)) else {
            Issue.record("no attempt after the backoff")
            return
        }
        #expect(third.attempt == 2 && m.isCurrent(third))
    }

    /// `totalTimeout` bounds dispatch → response head over every attempt: a retry that would
    /// run past it is cut at the deadline (504 `upstream_total`), in a backoff or mid-attempt,
    /// and a late head or connection is stale.
    @Test func theTotalTimeoutEndsRetriesAtItsDeadline() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(length: 0), timeouts: Self.timeouts)
        _ = m.stagesPassed(.head)
        _ = m.requestEnded(now: Self.t0)
        _ = m.stagesPassed(.body)
        guard case .connect(let first) = m.startForwarding(endpointCount: 1, retries: Self.threeRetries, totalTimeout: .seconds(3), now: Self.t0)
        else {
            Issue.record("no connect")
            return
        }
        // The first attempt's own response timeout (5 s) is later than the total deadline.
        _ = m.requestSent(first, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(3), .upstreamTotal))
        // A 503 at 1 s is retried after a backoff; the next attempt starts at 2 s.
        #expect(m.retry(after: .status(503), now: Self.t0 + .seconds(1), backoff: .seconds(1)) == .retryLater(abandonUpstream: true))
        guard case .connect(let second) = m.timerFired(now: Self.t0 + .seconds(2)) else {
            Issue.record("no attempt after the backoff")
            return
        }
        m.connectStarted(second, now: Self.t0 + .seconds(2), connectTimeout: .seconds(10))
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(3), .upstreamTotal))
        #expect(m.timerFired(now: Self.t0 + .seconds(3)) == .writeRefusal(.upstreamTimeout, closeAfter: false, cleanup: [.abandonUpstream]))
        let late = m.requestSent(second, now: Self.t0 + .seconds(4), responseTimeout: .seconds(5), idleTimeout: .seconds(5))
        #expect(!late)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0 + .seconds(4)) == .settle(.timedOut(.upstreamTotal), then: .idle))
        // In a backoff that outlasts it, the deadline wins too.
        var (b, token) = Self.forwarding(retries: Self.threeRetries)
        _ = b.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        _ = b.retry(after: .status(503), now: Self.t0, backoff: .seconds(1))
        #expect(b.nextDeadline()!.1 == .retryBackoff, "without a total timeout the backoff is the next deadline")
    }

    @Test func aListedStatusIsRetriedAndAnUnlistedOneOrTheLastAttemptIsNot() {
        let policy = Machine.RetryPolicy(maxAttempts: 2, onConnectFailure: true, statuses: [503])
        var (m, token) = Self.forwarding(endpoints: 2, retries: policy)
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(!m.retryPossible(after: .status(500)))
        #expect(m.retryPossible(after: .status(503)))
        guard case .retryNow(let second, abandonUpstream: true) = m.retry(after: .status(503), now: Self.t0, backoff: .zero) else {
            Issue.record("no retry of a 503")
            return
        }
        _ = m.requestSent(second, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        // The last attempt's 503 goes to the client.
        #expect(!m.retryPossible(after: .status(503)))
        #expect(m.retry(after: .status(503), now: Self.t0, backoff: .zero) == .none)
        #expect(m.upstreamResponseHead(now: Self.t0, isEventStream: false) == .writeResponseHead(closeAfter: false))
    }

    @Test func nothingIsRetriedOnceTheResponseStartedOrTheClientLeft() {
        var (m, token) = Self.forwarding(retries: Self.threeRetries)
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        _ = m.upstreamResponseHead(now: Self.t0, isEventStream: true)
        #expect(!m.retryPossible(after: .status(503)) && !m.retryPossible(after: .connectFailure))
        // A client that leaves during a backoff ends the exchange; the timer then does nothing.
        var (waiting, first) = Self.forwarding(retries: Self.threeRetries)
        waiting.connectStarted(first, now: Self.t0, connectTimeout: .seconds(2))
        #expect(waiting.retry(after: .connectFailure, now: Self.t0, backoff: .seconds(1)) == .retryLater(abandonUpstream: false))
        #expect(waiting.clientClosed() == .abandoned(cleanup: [], settle: .clientAborted(.upstreamConnect)))
        #expect(waiting.timerFired(now: Self.t0 + .seconds(2)) == .none)
        // With no retries configured there is never one.
        var (plain, only) = Self.forwarding()
        plain.connectStarted(only, now: Self.t0, connectTimeout: .seconds(2))
        #expect(!plain.retryPossible(after: .connectFailure))
    }
}
