import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Drives the lifecycle machine with long random sequences of events, in any order, with stale
/// tokens and clock jumps, as a shell might deliver them, and checks the contract every
/// obligation relies on: every exchange that starts is settled exactly once, and never one
/// that did not start.
@Suite struct LifecycleExactlyOnceTests {
    typealias Machine = LifecycleStateMachine

    static func settles(_ action: Machine.Action) -> Bool {
        switch action {
        case .settle, .abandoned: true
        case .close(_, let outcome, _): outcome != nil
        default: false
        }
    }


    @Test(arguments: Array(UInt64(1)...UInt64(40)))
    func everyExchangeSettlesExactlyOnce(seed: UInt64) {
        var random = LoopRandom(seed: seed)  // deterministic, so a failure names its seed
        let timeouts = Machine.Timeouts(
            header: .seconds(10), body: .seconds(30), idle: .seconds(60), sseKeepAlive: .seconds(15), clientWrite: .seconds(60))
        let mode: Machine.Mode = seed % 4 == 0 ? .http2Stream : .http1
        var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var m = Machine(mode: mode, now: now, timeouts: timeouts)
        var started: Set<UInt32> = []
        var settled: [UInt32: Int] = [:]
        var totalSettled = 0
        var suspension: Machine.SuspensionToken?
        var attempt: Machine.AttemptToken?
        let errors: [GatewayError] = [.notFound, .badPath, .upstreamTimeout, .bodyTooLarge(limit: 1, bodyRead: true), .identityConflict]

        func apply(_ event: (inout Machine) -> Machine.Action) {
            let before = m.currentExchangeID
            let action = event(&m)
            while true {
                let after = m.currentExchangeID
                if let after, after != before { started.insert(after) }
                if Self.settles(action) {
                    guard let id = before ?? after else {
                        Issue.record("seed \(seed): a settle without an exchange: \(action)")
                        return
                    }
                    settled[id, default: 0] += 1
                    totalSettled += 1
                }
                switch action {
                case .connect(let token), .retryOnFreshConnection(let token): attempt = token
                default: break
                }
                return
            }
        }

        for _ in 0..<1000 {
            now = now + .milliseconds(Int64.random(in: 0...(Bool.random(using: &random) ? 50 : 40_000), using: &random))
            switch Int.random(in: 0..<23, using: &random) {
            case 0:
                let framing = Machine.RequestFraming(
                    keepAlive: Bool.random(using: &random), expectContinue: Bool.random(using: &random),
                    contentLength: Bool.random(using: &random) ? Int.random(in: 0...200_000, using: &random) : nil,
                    chunked: Bool.random(using: &random))
                let id = m.currentExchangeID
                if m.headReceived(now: now, framing: framing, timeouts: timeouts) != nil, let new = m.currentExchangeID, new != id {
                    started.insert(new)
                }
            case 1: m.headBytesArrived(now: now)
            case 2: apply { $0.stagesPassed(.head) }
            case 3: apply { $0.stagesPassed(.body) }
            case 4:
                suspension = m.stageSuspended(
                    Bool.random(using: &random) ? .head : .body, at: 0, deadline: now + .seconds(2), timeoutError: .authUnavailable,
                    failureError: .authUnavailable) ?? suspension
            case 5:
                if let token = suspension {
                    let result: Result<SuspensionResult, any Error> =
                        Bool.random(using: &random) ? .success(.proceed) : .success(.refuse(.identityConflict))
                    apply { $0.suspensionEnded(token, result: result, now: now) }
                }
            case 6: apply { $0.requestEnded(now: now) }
            case 7: _ = m.bodyPartReceived(bytes: Int.random(in: 0...70_000, using: &random))
            case 8: apply { $0.respond(errors.randomElement(using: &random)!, now: now) }
            case 9: apply { $0.respondLocally(now: now) }
            case 10: apply { $0.startForwarding(endpointCount: Int.random(in: 1...3, using: &random)) }
            case 11:
                if let token = attempt { m.connectStarted(token, now: now, connectTimeout: .seconds(2)) }
            case 12:
                if let token = attempt { _ = m.requestSent(token, now: now, responseTimeout: .seconds(5), idleTimeout: .seconds(20)) }
            case 13:
                if let token = attempt { apply { $0.connectFailed(token, timedOut: Bool.random(using: &random), now: now) } }
            case 14: apply { $0.upstreamResponseHead(now: now, isEventStream: Bool.random(using: &random)) }
            case 15: m.upstreamBodyPart(now: now)
            case 16: apply { $0.upstreamResponseEnded(now: now) }
            case 17:
                let failures: [UpstreamFailure] = [.closedBeforeResponse(retryable: true), .closedBeforeResponse(retryable: false), .closedMidResponse, .protocolError]
                apply { $0.upstreamFailed(failures.randomElement(using: &random)!, now: now) }
            case 18: apply { $0.lastWriteCompleted(success: Int.random(in: 0..<5, using: &random) > 0, now: now) }
            case 21 where Int.random(in: 0..<4, using: &random) == 0: apply { $0.clientClosed() }
            case 19: apply { $0.timerFired(now: now) }
            case 20: apply { $0.protocolError(.protocolError, now: now, timeouts: timeouts) }
            default:
                switch Int.random(in: 0..<3, using: &random) {
                case 0: apply { $0.drain() }
                case 1: apply { $0.clientWritabilityChanged(writable: Bool.random(using: &random), now: now) }
                default: break
                }
            }
            if m.isClosed {
                // The connection ended; a new one starts (the counts carry on per id space).
                apply { $0.clientClosed() }
                apply { $0.handlerRemoved() }
                // NIO completes every write promise: one still pending completes now.
                apply { $0.lastWriteCompleted(success: Bool.random(using: &random), now: now) }
                for id in started where settled[id] != 1 {
                    Issue.record("seed \(seed): exchange \(id) settled \(settled[id] ?? 0) times")
                }
                started.removeAll()
                settled.removeAll()
                m = Machine(mode: mode, now: now, timeouts: timeouts)
                suspension = nil
                attempt = nil
            }
        }
        apply { $0.clientClosed() }
        apply { $0.handlerRemoved() }
        apply { $0.lastWriteCompleted(success: Bool.random(using: &random), now: now) }
        for id in started where settled[id] != 1 {
            Issue.record("seed \(seed): exchange \(id) settled \(settled[id] ?? 0) times")
        }
        // The sequence must have exercised the contract, not just idled.
        #expect(totalSettled >= 10, "seed \(seed): only \(totalSettled) settlements")
        for (id, count) in settled where !started.contains(id) {
            Issue.record("seed \(seed): exchange \(id) settled \(count) times without starting")
        }
    }
}
