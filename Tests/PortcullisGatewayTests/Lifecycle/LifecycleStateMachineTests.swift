import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The lifecycle state machine without IO: every transition, and the races (a client leaving
/// while a stage waits, an upstream end and a client close in the same tick, a timeout during
/// the last write).
@Suite struct LifecycleStateMachineTests {
    typealias Machine = LifecycleStateMachine
    static let timeouts = Machine.Timeouts(
        header: .seconds(10), body: .seconds(30), idle: .seconds(60), sseKeepAlive: .seconds(15), clientWrite: .seconds(60))
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static func framing(keepAlive: Bool = true, expect: Bool = false, length: Int? = nil, chunked: Bool = false) -> Machine.RequestFraming {
        .init(keepAlive: keepAlive, expectContinue: expect, contentLength: length, chunked: chunked)
    }

    /// A machine with one exchange whose body stages passed, forwarding with `endpoints`.
    static func forwarding(
        endpoints: Int = 1, mode: Machine.Mode = .http1, retries: Machine.RetryPolicy = .none
    ) -> (Machine, Machine.AttemptToken) {
        var m = Machine(mode: mode, now: t0, timeouts: timeouts)
        _ = m.headReceived(now: t0, framing: framing(length: 10), timeouts: timeouts)
        _ = m.stagesPassed(.head)
        _ = m.bodyPartReceived(bytes: 10)
        #expect(m.requestEnded(now: t0) == .runStages(.body, from: 0))
        #expect(m.stagesPassed(.body) == .dispatch)
        guard case .connect(let token) = m.startForwarding(endpointCount: endpoints, retries: retries) else {
            Issue.record("no connect")
            return (m, .init(exchange: 0, attempt: 0))
        }
        return (m, token)
    }

    /// A forwarding machine whose response is streaming.
    static func streaming(eventStream: Bool = false, mode: Machine.Mode = .http1) -> Machine {
        var (m, token) = forwarding(mode: mode)
        let sent = m.requestSent(token, now: t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(sent)
        #expect(m.upstreamResponseHead(now: t0, isEventStream: eventStream) == .writeResponseHead(closeAfter: false))
        return m
    }

    @Test func aForwardedRequestCompletesAndTheConnectionGoesIdle() {
        var m = Self.streaming()
        m.upstreamBodyPart(now: Self.t0 + .milliseconds(5))
        #expect(m.upstreamResponseEnded(now: Self.t0 + .milliseconds(6)) == .writeEnd)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0 + .milliseconds(7)) == .settle(.completed, then: .idle))
        guard case .idle = m.state else {
            Issue.record("not idle: \(m.state)")
            return
        }
        // The idle timeout now applies.
        #expect(m.nextDeadline()?.1 == .closeIdle)
        #expect(m.nextDeadline()?.0 == Self.t0 + .milliseconds(7) + .seconds(60))
    }

    @Test func withoutKeepAliveTheConnectionClosesAfterTheWrite() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(keepAlive: false), timeouts: Self.timeouts)
        #expect(m.stagesPassed(.head) == .none)
        #expect(m.requestEnded(now: Self.t0) == .runStages(.body, from: 0))
        #expect(m.stagesPassed(.body) == .dispatch)
        #expect(m.respondLocally(now: Self.t0) == .writeLocalAnswer(closeAfter: true))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .close))
        #expect(m.isClosed)
    }

    @Test func expectContinueIsAnsweredOnceHeadStagesPass() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(expect: true, length: 5), timeouts: Self.timeouts)
        #expect(m.stagesPassed(.head) == .sendContinue)
    }

    @Test func anEarlyRefusalDropsASmallRestOfTheBodyAndKeepsTheConnection() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(length: 1000), timeouts: Self.timeouts)
        #expect(m.respond(.notFound, now: Self.t0) == .writeRefusal(.notFound, closeAfter: false, cleanup: []))
        #expect(m.bodyPartReceived(bytes: 500) == .drop)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.refused(.routeNotFound), then: .awaitRequestEnd))
        #expect(m.requestEnded(now: Self.t0) == .next(.idle))
    }

    @Test(arguments: [
        Self.framing(length: 500_000), Self.framing(chunked: true), Self.framing(expect: true, length: 10),
    ])
    func anEarlyRefusalClosesWhenTheRestIsLargeUnknownOrAwaited(framing: LifecycleStateMachine.RequestFraming) {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: framing, timeouts: Self.timeouts)
        #expect(m.respond(.notFound, now: Self.t0) == .writeRefusal(.notFound, closeAfter: true, cleanup: []))
        // The body is still coming: linger, so the client reads the answer instead of a reset.
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.refused(.routeNotFound), then: .lingerThenClose))
    }

    @Test func drainingKeepsAConnectionWhoseHeadIsHalfwayIn() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        m.headBytesArrived(now: Self.t0)
        #expect(m.drain() == .none)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        #expect(m.respond(.notFound, now: Self.t0) == .writeRefusal(.notFound, closeAfter: true, cleanup: []))
    }

    @Test func errorsThatEndTheConnectionCloseIt() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        #expect(m.respond(.badPath, now: Self.t0) == .writeRefusal(.badPath, closeAfter: true, cleanup: []))
    }

    // MARK: Suspensions

    @Test func aSuspensionResumesAfterItsStageAndAStaleResultIsIgnored() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        let token = m.stageSuspended(
            .head, at: 2, deadline: Self.t0 + .seconds(6), timeoutError: .authUnavailable, failureError: .authUnavailable)!
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(6), .suspension))
        #expect(m.suspensionEnded(token, result: .success(.proceed), now: Self.t0) == .resumeStages(.head, from: 3))
        #expect(m.suspensionEnded(token, result: .success(.proceed), now: Self.t0) == .none)
    }

    @Test func aSuspensionThatFailsOrRefusesBecomesATypedRefusal() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        _ = m.stagesPassed(.head)
        _ = m.requestEnded(now: Self.t0)
        let failed = m.stageSuspended(
            .body, at: 0, deadline: Self.t0 + .seconds(1), timeoutError: .dependencyTimedOut(stage: "x"),
            failureError: .dependencyFailed(stage: "x"))!
        struct Broken: Error {}
        #expect(
            m.suspensionEnded(failed, result: .failure(Broken()), now: Self.t0)
                == .writeRefusal(.dependencyFailed(stage: "x"), closeAfter: false, cleanup: []))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.refused(.dependencyFailed), then: .idle))

        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        let refused = m.stageSuspended(
            .head, at: 0, deadline: Self.t0 + .seconds(1), timeoutError: .authUnavailable, failureError: .authUnavailable)!
        #expect(
            m.suspensionEnded(refused, result: .success(.refuse(.identityConflict)), now: Self.t0)
                == .writeRefusal(.identityConflict, closeAfter: false, cleanup: []))
    }

    @Test func aSuspensionPastItsDeadlineIsCancelledAndAnswered() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        let token = m.stageSuspended(
            .head, at: 0, deadline: Self.t0 + .seconds(2), timeoutError: .authUnavailable, failureError: .authUnavailable)!
        #expect(m.timerFired(now: Self.t0 + .seconds(1)) == .none)
        #expect(
            m.timerFired(now: Self.t0 + .seconds(2))
                == .writeRefusal(.authUnavailable, closeAfter: false, cleanup: [.cancelSuspension, .resumeReads]))
        // The late result of the cancelled wait changes nothing.
        #expect(m.suspensionEnded(token, result: .success(.proceed), now: Self.t0 + .seconds(3)) == .none)
        // The request had no body: its end arrives, and the connection goes idle.
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.timedOut(.suspension), then: .awaitRequestEnd))
        #expect(m.requestEnded(now: Self.t0) == .next(.idle))
    }

    @Test func aClientLeavingWhileAStageWaitsCancelsTheWaitAndSettlesOnce() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(length: 100), timeouts: Self.timeouts)
        let token = m.stageSuspended(
            .head, at: 0, deadline: Self.t0 + .seconds(5), timeoutError: .authUnavailable, failureError: .authUnavailable)!
        #expect(
            m.clientClosed() == .abandoned(cleanup: [.cancelSuspension, .resumeReads], settle: .clientAborted(.headStages)))
        #expect(m.suspensionEnded(token, result: .success(.proceed), now: Self.t0) == .none)
        #expect(m.timerFired(now: Self.t0 + .seconds(10)) == .none)
        #expect(m.clientClosed() == .none)
    }

    // MARK: Races at the end

    @Test func anUpstreamEndAndAClientCloseInTheSameTickSettleOnce() {
        // The close arrives before the end's write completes: the write's result decides
        // (an HTTP/2 stream closes as its END_STREAM goes out, before the promise completes).
        var m = Self.streaming()
        #expect(m.upstreamResponseEnded(now: Self.t0) == .writeEnd)
        #expect(m.clientClosed() == .none)
        #expect(m.lastWriteCompleted(success: false, now: Self.t0) == .settle(.clientAborted(.writingResponse), then: .streamDone))
        #expect(m.handlerRemoved() == .none)
        var delivered = Self.streaming()
        _ = delivered.upstreamResponseEnded(now: Self.t0)
        #expect(delivered.clientClosed() == .none)
        #expect(delivered.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .streamDone))
        // A promise that never completes before the handler leaves counts as not delivered.
        var lost = Self.streaming()
        _ = lost.upstreamResponseEnded(now: Self.t0)
        _ = lost.clientClosed()
        #expect(lost.handlerRemoved() == .abandoned(cleanup: [], settle: .clientAborted(.writingResponse)))
        // An HTTP/2 stream's channel goes before the connection's write (and its promise)
        // completes: the promise still decides, after the handler left.
        var h2 = Self.streaming(mode: .http2Stream)
        #expect(h2.upstreamResponseEnded(now: Self.t0) == .writeEnd)
        #expect(h2.clientClosed() == .none)
        #expect(h2.handlerRemoved() == .none)
        #expect(h2.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .streamDone))
        #expect(h2.isClosed)
        var h2Lost = Self.streaming(mode: .http2Stream)
        _ = h2Lost.upstreamResponseEnded(now: Self.t0)
        #expect(h2Lost.handlerRemoved() == .none)
        #expect(h2Lost.lastWriteCompleted(success: false, now: Self.t0) == .settle(.clientAborted(.writingResponse), then: .streamDone))
        // The write completes first: the exchange completed, and the close is only the connection's.
        var n = Self.streaming()
        _ = n.upstreamResponseEnded(now: Self.t0)
        #expect(n.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .idle))
        #expect(n.clientClosed() == .none)
    }

    @Test func aTimeoutDuringTheLastWriteSettlesOnceAndTheLateWriteIsIgnored() {
        var m = Self.streaming()
        _ = m.upstreamResponseEnded(now: Self.t0)
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(60), .lastWrite))
        // The upstream's idle deadline no longer applies once the end is out.
        #expect(m.timerFired(now: Self.t0 + .seconds(30)) == .none)
        #expect(
            m.timerFired(now: Self.t0 + .seconds(60))
                == .close(cleanup: [], settle: .timedOut(.clientWrite), abort: .clientWriteTimeout))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0 + .seconds(61)) == .none)
        #expect(m.clientClosed() == .none)
    }

    @Test func aFailedLastWriteOfARefusalKeepsItsOutcome() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        _ = m.respond(.notFound, now: Self.t0)
        #expect(m.lastWriteCompleted(success: false, now: Self.t0) == .settle(.refused(.routeNotFound), then: .close))
    }

    // MARK: The client side's deadlines

    @Test func idleConnectionsCloseAndSlowHeadsGet408() {
        var idle = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        // A fresh connection must start a head within the header timeout.
        #expect(idle.nextDeadline()! == (Self.t0 + .seconds(10), .closeIdle))
        #expect(idle.timerFired(now: Self.t0 + .seconds(10)) == .close(cleanup: []))
        var slow = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        slow.headBytesArrived(now: Self.t0 + .seconds(1))
        #expect(slow.nextDeadline()! == (Self.t0 + .seconds(11), .header))
        #expect(slow.timerFired(now: Self.t0 + .seconds(11)) == .writeRefusal(.requestTimeout, closeAfter: true, cleanup: []))
        #expect(slow.lastWriteCompleted(success: true, now: Self.t0) == .settle(.timedOut(.header), then: .close))
    }

    @Test func aSlowBodyGets408AndAnAnsweredOneIsClosed() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(length: 100), timeouts: Self.timeouts)
        _ = m.stagesPassed(.head)
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(30), .body))
        #expect(m.timerFired(now: Self.t0 + .seconds(30)) == .writeRefusal(.requestTimeout, closeAfter: true, cleanup: []))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.timedOut(.body), then: .lingerThenClose))

        var answered = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = answered.headReceived(now: Self.t0, framing: Self.framing(length: 100), timeouts: Self.timeouts)
        _ = answered.respond(.notFound, now: Self.t0)
        _ = answered.lastWriteCompleted(success: true, now: Self.t0)
        #expect(answered.timerFired(now: Self.t0 + .seconds(30)) == .close(cleanup: []))
    }

    // MARK: Errors, pipelining, drain, HTTP/2

    @Test func aParseErrorInAPipelinedRequestWaitsItsTurn() {
        // The shell queues it behind the requests before it; the machine is not disturbed.
        var m = Self.streaming()
        #expect(m.protocolError(.protocolError, now: Self.t0, timeouts: Self.timeouts) == .none)
        _ = m.upstreamResponseEnded(now: Self.t0)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .idle))
        // In its turn it is answered as an exchange of its own, and the connection closes.
        #expect(m.protocolError(.protocolError, now: Self.t0, timeouts: Self.timeouts) == .writeRefusal(.protocolError, closeAfter: true, cleanup: []))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.refused(.protocolError), then: .close))
    }

    @Test func aParseErrorMidResponseCutsTheConnection() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = m.headReceived(now: Self.t0, framing: Self.framing(length: 100), timeouts: Self.timeouts)
        #expect(m.protocolError(.protocolError, now: Self.t0, timeouts: Self.timeouts) == .writeRefusal(.protocolError, closeAfter: true, cleanup: []))
    }

    @Test func drainingClosesIdleConnectionsAndEndsBusyOnesAfterTheirResponse() {
        var idle = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        #expect(idle.drain() == .close(cleanup: []))
        var (busy, token) = Self.forwarding()
        #expect(busy.drain() == .none)
        _ = busy.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(5))
        #expect(busy.upstreamResponseHead(now: Self.t0, isEventStream: true) == .writeResponseHead(closeAfter: true))
        _ = busy.upstreamResponseEnded(now: Self.t0)
        #expect(busy.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .close))
        // A head that arrives while draining is answered with Connection: close.
        var late = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        _ = late.headReceived(now: Self.t0, framing: Self.framing(), timeouts: Self.timeouts)
        _ = late.drain()
        #expect(late.respond(.notFound, now: Self.t0) == .writeRefusal(.notFound, closeAfter: true, cleanup: []))
    }

    @Test func anHTTP2StreamCarriesOneExchange() {
        var (m, token) = Self.forwarding(mode: .http2Stream)
        // No idle or header deadline of its own: the connection's HTTP/2 handler owns those.
        #expect(Machine(mode: .http2Stream, now: Self.t0, timeouts: Self.timeouts).nextDeadline() == nil)
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(5))
        #expect(m.upstreamResponseHead(now: Self.t0, isEventStream: false) == .writeResponseHead(closeAfter: false))
        _ = m.upstreamResponseEnded(now: Self.t0)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.completed, then: .streamDone))
        #expect(m.isClosed)
        var reset = Self.streaming()
        #expect(reset.clientClosed() == .abandoned(cleanup: [.abandonUpstream], settle: .clientAborted(.streaming)))
    }

    @Test func theGatewayEndsWhatTheDrainTimeoutCatches() {
        var m = Self.streaming()
        #expect(m.forceClose(.drain) == .close(cleanup: [.abandonUpstream], settle: .timedOut(.drain), abort: .drainTimeout))
    }
}
