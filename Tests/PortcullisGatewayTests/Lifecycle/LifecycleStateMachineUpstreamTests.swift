import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The lifecycle machine's upstream side: connect failures and deadlines, the response head's
/// deadline, the keep-alive retry, broken and quiet backends, and a client too slow to read.
/// (Split from `LifecycleStateMachineTests`, whose fixtures these use.)
extension LifecycleStateMachineTests {
    @Test func aCutEventStreamEndsWithItsErrorRefusedAndTheConnectionStaysOpen() {
        let error = GatewayError.limitExceeded(
            LimitRefusal(name: .tokensPerMinute, rule: nil, limit: 100, cost: 100, retryAfterNanos: 0, midStream: true))
        var m = Self.streaming(eventStream: true)
        m.upstreamBodyPart(now: Self.t0 + .milliseconds(5))
        #expect(m.streamCut(error, now: Self.t0 + .milliseconds(6)) == .cutStream(error))
        // Nothing more comes from the upstream (dropped), and a second cut changes nothing.
        #expect(m.streamCut(error, now: Self.t0 + .milliseconds(7)) == .none)
        #expect(m.upstreamResponseEnded(now: Self.t0 + .milliseconds(7)) == .none)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.refused(.tokenQuotaExceeded), then: .idle))
        // A body framed by its length cannot be ended early and stay whole: no cut.
        var framed = Self.streaming(eventStream: false)
        #expect(framed.streamCut(error, now: Self.t0) == .none)
        #expect(framed.upstreamResponseEnded(now: Self.t0) == .writeEnd)
    }

    @Test func connectFailuresWithoutRetriesAre502() {
        var (m, first) = Self.forwarding(endpoints: 2)
        m.connectStarted(first, now: Self.t0, connectTimeout: .seconds(2))
        #expect(!m.retryPossible(after: .connectFailure))
        #expect(
            m.connectFailed(first, timedOut: false, now: Self.t0)
                == .writeRefusal(.upstreamUnreachable, closeAfter: false, cleanup: []))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.upstreamFailed(.upstreamConnect), then: .idle))
    }

    @Test func aConnectThatOutlivesItsDeadlineIs504AndItsLateConnectionIsStale() {
        var (m, token) = Self.forwarding()
        m.connectStarted(token, now: Self.t0, connectTimeout: .seconds(2))
        #expect(m.nextDeadline()!.1 == .connect)
        #expect(
            m.timerFired(now: Self.t0 + .seconds(3)) == .writeRefusal(.upstreamTimeout, closeAfter: false, cleanup: []))
        let late = m.requestSent(token, now: Self.t0 + .seconds(4), responseTimeout: .seconds(5), idleTimeout: .seconds(5))
        #expect(!late)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.timedOut(.upstreamConnect), then: .idle))
    }

    @Test func aSlowResponseHeadIs504AndAbandonsTheUpstream() {
        var (m, token) = Self.forwarding()
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(
            m.timerFired(now: Self.t0 + .seconds(5))
                == .writeRefusal(.upstreamTimeout, closeAfter: false, cleanup: [.abandonUpstream]))
        #expect(m.upstreamResponseHead(now: Self.t0 + .seconds(6), isEventStream: false) == .none)
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.timedOut(.upstreamResponse), then: .idle))
    }

    @Test func theKeepAliveRaceIsRetriedOnceOnAFreshConnectionForIdempotentMethodsOnly() {
        var m = Machine(mode: .http1, now: Self.t0, timeouts: Self.timeouts)
        var get = Self.framing()
        get.idempotent = true
        _ = m.headReceived(now: Self.t0, framing: get, timeouts: Self.timeouts)
        _ = m.stagesPassed(.head)
        _ = m.requestEnded(now: Self.t0)
        _ = m.stagesPassed(.body)
        guard case .connect(let token) = m.startForwarding(endpointCount: 1) else {
            Issue.record("no connect")
            return
        }
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(m.upstreamFailed(.closedBeforeResponse(retryable: true), now: Self.t0) == .retryOnFreshConnection(token))
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(
            m.upstreamFailed(.closedBeforeResponse(retryable: true), now: Self.t0)
                == .writeRefusal(.upstreamClosed, closeAfter: false, cleanup: []))
        // A POST the backend may have taken is never sent twice.
        var (post, postToken) = Self.forwarding()
        _ = post.requestSent(postToken, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(
            post.upstreamFailed(.closedBeforeResponse(retryable: true), now: Self.t0)
                == .writeRefusal(.upstreamClosed, closeAfter: false, cleanup: []))
        #expect(post.lastWriteCompleted(success: true, now: Self.t0) == .settle(.upstreamFailed(.upstreamResponse), then: .idle))
    }

    @Test func aRefusedBackendCredentialIs502AndDropsTheUpstreamOnlyBeforeTheHeadIsOut() {
        var (m, token) = Self.forwarding()
        // Not yet waiting for a head: nothing to refuse.
        #expect(m.upstreamHeadRefused(.upstreamAuthFailed, now: Self.t0) == .none)
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(
            m.upstreamHeadRefused(.upstreamAuthFailed, now: Self.t0)
                == .writeRefusal(.upstreamAuthFailed, closeAfter: false, cleanup: [.abandonUpstream]))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.upstreamFailed(.upstreamResponse), then: .idle))
        // Once a head went to the client, it is too late to answer otherwise.
        var streaming = Self.streaming(eventStream: false)
        #expect(streaming.upstreamHeadRefused(.upstreamAuthFailed, now: Self.t0) == .none)
    }

    @Test func anInvalidResponseIs502() {
        var (m, token) = Self.forwarding()
        _ = m.requestSent(token, now: Self.t0, responseTimeout: .seconds(5), idleTimeout: .seconds(20))
        #expect(
            m.upstreamFailed(.protocolError, now: Self.t0) == .writeRefusal(.upstreamProtocolError, closeAfter: false, cleanup: []))
        #expect(m.lastWriteCompleted(success: true, now: Self.t0) == .settle(.upstreamFailed(.upstreamResponse), then: .idle))
    }

    @Test func aBackendBreakingMidStreamCutsTheClient() {
        var m = Self.streaming()
        #expect(
            m.upstreamFailed(.closedMidResponse, now: Self.t0)
                == .close(cleanup: [], settle: .upstreamFailed(.streaming), abort: .upstreamClosed))
        #expect(m.isClosed)
        #expect(m.clientClosed() == .none)
        // An open event stream broken between events ends with a final error event instead.
        var events = Self.streaming(eventStream: true)
        #expect(events.upstreamFailed(.closedMidResponse, now: Self.t0, atEventBoundary: true) == .cutStream(.upstreamStreamBroken))
        #expect(events.lastWriteCompleted(success: true, now: Self.t0) == .settle(.upstreamFailed(.streaming), then: .idle))
        // Inside an event, it is cut like any other body.
        var inside = Self.streaming(eventStream: true)
        #expect(
            inside.upstreamFailed(.closedMidResponse, now: Self.t0, atEventBoundary: false)
                == .close(cleanup: [], settle: .upstreamFailed(.streaming), abort: .upstreamClosed))
    }

    @Test func aQuietBackendMidStreamTimesOutAndEventStreamsGetKeepAlives() {
        var m = Self.streaming(eventStream: true)
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(15), .keepAlive))
        #expect(m.timerFired(now: Self.t0 + .seconds(15)) == .sendKeepAlive)
        m.keepAliveHandled(now: Self.t0 + .seconds(15))
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(20), .upstreamIdle))
        #expect(
            m.timerFired(now: Self.t0 + .seconds(20))
                == .close(cleanup: [.abandonUpstream], settle: .timedOut(.upstreamIdle), abort: .upstreamIdleTimeout))
    }

    @Test func aClientThatStopsReadingPausesTheUpstreamAndIsCutAfterTheWriteTimeout() {
        var m = Self.streaming()
        #expect(m.clientWritabilityChanged(writable: false, now: Self.t0 + .seconds(1)) == .pauseUpstreamReads)
        // While paused, the backend's silence is not its fault.
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(61), .clientStalled))
        #expect(m.clientWritabilityChanged(writable: true, now: Self.t0 + .seconds(2)) == .resumeUpstreamReads)
        #expect(m.nextDeadline()! == (Self.t0 + .seconds(22), .upstreamIdle))
        _ = m.clientWritabilityChanged(writable: false, now: Self.t0 + .seconds(3))
        #expect(
            m.timerFired(now: Self.t0 + .seconds(63))
                == .close(cleanup: [.abandonUpstream], settle: .timedOut(.clientWrite), abort: .clientWriteTimeout))
    }
}
