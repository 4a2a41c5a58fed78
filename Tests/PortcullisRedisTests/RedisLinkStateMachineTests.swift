import Testing

@testable import PortcullisRedis

@Suite("Redis link: connect, back off, reconnect (pure)")
struct RedisLinkStateMachineTests {
    @Test func aLinkConnectsThenServes() {
        var machine = RedisLinkStateMachine()
        #expect(machine.start() == .connect)
        #expect(machine.start() == .none, "started once")
        #expect(!machine.isReady)
        #expect(machine.connected() == .markUp)
        #expect(machine.isReady)
    }

    @Test func failedAttemptsBackOffDoublingToTheCap() {
        var machine = RedisLinkStateMachine()
        _ = machine.start()
        var delays: [Int64] = []
        for _ in 0..<8 {
            guard case .reconnect(let delay, let wasUp) = machine.connectFailed(jitter: 0.999_999) else {
                Issue.record("expected a reconnect")
                return
            }
            #expect(!wasUp)
            delays.append(delay)
            #expect(machine.reconnectDue() == .connect)
        }
        let base = RedisLinkStateMachine.baseBackoffNanos
        // Jitter near 1: each delay is just under the full step.
        #expect(delays[0] > base * 99 / 100 && delays[0] <= base)
        #expect(delays[1] > delays[0] * 19 / 10)
        #expect(delays.last! <= RedisLinkStateMachine.maxBackoffNanos)
        #expect(delays.last! > RedisLinkStateMachine.maxBackoffNanos * 99 / 100)
        #expect(RedisLinkStateMachine.backoff(failures: 3, jitter: 0) == base * 8 / 2, "no jitter: half the step")
        #expect(RedisLinkStateMachine.backoff(failures: 1_000, jitter: 0.5) <= RedisLinkStateMachine.maxBackoffNanos)
    }

    @Test func aReadyLinkThatClosesReconnectsQuicklyAndCountsAsDown() {
        var machine = RedisLinkStateMachine()
        _ = machine.start()
        _ = machine.connected()
        #expect(machine.closed(jitter: 0) == .reconnect(afterNanos: RedisLinkStateMachine.baseBackoffNanos / 2, wasUp: true))
        #expect(!machine.isReady)
        #expect(machine.closed(jitter: 0) == .none, "closed once")
        #expect(machine.reconnectDue() == .connect)
        #expect(machine.connected() == .markUp)
    }

    @Test func shutdownWinsOverEverything() {
        var machine = RedisLinkStateMachine()
        _ = machine.start()
        #expect(machine.shutdown() == .close)
        #expect(machine.connected() == .close, "a connection finishing after shutdown is closed")
        #expect(machine.connectFailed(jitter: 0) == .none)
        #expect(machine.reconnectDue() == .none)
        #expect(machine.start() == .none)
    }
}
