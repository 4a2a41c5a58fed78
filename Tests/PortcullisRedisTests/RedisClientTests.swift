import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PortcullisTestSupport
import Testing

@testable import PortcullisRedis

/// The client against a real `redis-server` on a loopback port.
@Suite("Redis client: a real redis-server", .serialized)
struct RedisClientTests {
    let group = MultiThreadedEventLoopGroup.singleton

    private func client(_ server: RedisServer, connections: Int = 2, health: HealthLog? = nil) async throws -> RedisClient {
        var configuration = RedisClientConfiguration(host: "127.0.0.1", port: server.port)
        configuration.connections = connections
        configuration.scripts = RedisLimitScripts.all
        let client = RedisClient(configuration: configuration, group: self.group) { up, _ in health?.changes.withLockedValue { $0.append(up) } }
        client.start()
        try await Self.waitUntil { client.isUp }
        return client
    }

    static func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("condition not met in time") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func run(_ client: RedisClient, _ words: String..., timeout: TimeAmount = .seconds(2)) async throws -> RESPValue {
        var command = RESPCommand(words[0])
        for word in words.dropFirst() { command.append(word) }
        return try await client.send(command, on: self.group.next(), timeout: timeout).get()
    }

    /// One `take` of a single GCRA limit: `limit` per `periodMicros`, `cost` units.
    private func take(_ client: RedisClient, key: String, limit: Int, periodMicros: Double, cost: Int, enforced: Bool = true) async throws
        -> RedisLimitScripts.Verdict
    {
        let interval = periodMicros / Double(limit)
        let answer = try await client.evaluate(
            script: RedisLimitScripts.take, keys: [key],
            arguments: ["1", "g", enforced ? "1" : "0", String(interval), String(interval * Double(limit)), String(cost)],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        return try #require(RedisLimitScripts.verdicts(answer, count: 1)).verdicts[0]
    }

    @Test func commandsArePipelinedAndAnsweredInOrder() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server, connections: 1)
        #expect(try await self.run(client, "SET", "k", "v") == .simpleString("OK"))
        #expect(try await self.run(client, "GET", "k").string == "v")
        #expect(try await self.run(client, "GET", "missing") == .bulkString(nil))
        if case .error(let message) = try await self.run(client, "NOSUCHCOMMAND") {
            #expect(message.hasPrefix("ERR"))
        } else {
            Issue.record("an unknown command is an error reply")
        }
        // 1,000 commands in flight at once on one connection: every answer is its own.
        let loop = self.group.next()
        let futures = (0..<1000).map { i -> EventLoopFuture<RESPValue> in
            var command = RESPCommand("INCRBY")
            command.append("counter")
            command.append(i)
            return client.send(command, on: loop, timeout: .seconds(5))
        }
        let answers = try await EventLoopFuture.whenAllSucceed(futures, on: loop).get()
        var total: Int64 = 0
        for (i, answer) in answers.enumerated() {
            total += Int64(i)
            #expect(answer.int == total)
        }
        await client.shutdown()
    }

    @Test func theTakeScriptIsAGCRAAndAllOrNothing() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server)
        // 5 a minute: five fit, the sixth is refused with a retry of about 12 s.
        for expected in stride(from: 4, through: 0, by: -1) {
            let verdict = try await self.take(client, key: "rate", limit: 5, periodMicros: 60e6, cost: 1)
            #expect(verdict.allowed == true)
            #expect(verdict.remaining == expected)
        }
        let refused = try await self.take(client, key: "rate", limit: 5, periodMicros: 60e6, cost: 1)
        #expect(refused.allowed == false)
        #expect(refused.retryAfterNanos > 10_000_000_000 && refused.retryAfterNanos <= 12_000_000_000)
        let never = try await self.take(client, key: "rate", limit: 5, periodMicros: 60e6, cost: 6)
        #expect(never.retryAfterNanos == .max, "a cost above the whole bucket never fits")
        // Two limits in one call: the second refuses, so the first is not charged either.
        let interval = String(60e6 / 100)
        let answer = try await client.evaluate(
            script: RedisLimitScripts.take, keys: ["wide", "rate"],
            arguments: ["2", "g", "1", interval, "60000000", "1", "g", "1", String(60e6 / 5), "60000000", "1"],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        let (index, verdicts) = try #require(RedisLimitScripts.verdicts(answer, count: 2))
        #expect(index == 2)
        #expect(verdicts[0].allowed == true && verdicts[1].allowed == false)
        #expect(try await self.run(client, "EXISTS", "wide").int == 0, "nothing is written when an enforced limit refuses")
        // A shadow limit that does not fit is skipped; the enforced one is charged.
        let shadow = try await client.evaluate(
            script: RedisLimitScripts.take, keys: ["rate", "wide"],
            arguments: ["2", "g", "0", String(60e6 / 5), "60000000", "1", "g", "1", interval, "60000000", "1"],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        let (shadowIndex, shadowVerdicts) = try #require(RedisLimitScripts.verdicts(shadow, count: 2))
        #expect(shadowIndex == 0)
        #expect(shadowVerdicts[0].allowed == false && shadowVerdicts[1].allowed == true)
        #expect(try await self.run(client, "EXISTS", "wide").int == 1)
        await client.shutdown()
    }

    @Test func settlementHandsBackWhatWasNotUsedButNeverPastFull() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server)
        // A day's window: nothing refills while the test runs, however slow the machine.
        let interval = 86400e6 / 1000
        // Reserve 600 of 1,000 tokens a day, use 100: 500 come back.
        _ = try await self.take(client, key: "tokens", limit: 1000, periodMicros: 86400e6, cost: 600)
        _ = try await client.evaluate(
            script: RedisLimitScripts.finish, keys: ["tokens"], arguments: ["g", String(interval), "500", "86400000000"],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        let after = try await self.take(client, key: "tokens", limit: 1000, periodMicros: 86400e6, cost: 0)
        #expect(after.remaining == 900)
        // A credit of a million never makes the bucket more than full.
        _ = try await client.evaluate(
            script: RedisLimitScripts.finish, keys: ["tokens"], arguments: ["g", String(interval), "1000000", "86400000000"],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        #expect(try await self.take(client, key: "tokens", limit: 1000, periodMicros: 86400e6, cost: 0).remaining == 1000)
        // A charge of a million empties it for one window at most.
        _ = try await client.evaluate(
            script: RedisLimitScripts.finish, keys: ["tokens"], arguments: ["g", String(interval), "-1000000", "86400000000"],
            on: self.group.next(), timeout: .seconds(2)
        ).get()
        let drained = try await self.take(client, key: "tokens", limit: 1000, periodMicros: 86400e6, cost: 1)
        #expect(drained.allowed == false)
        #expect(drained.resetNanos <= 86_400_000_000_000)
        await client.shutdown()
    }

    @Test func leasesAreCappedReleasedAndExpire() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server)
        func acquire(_ member: String, ttlMicros: Int = 60_000_000) async throws -> Bool {
            let answer = try await client.evaluate(
                script: RedisLimitScripts.take, keys: ["slots"], arguments: ["1", "c", "1", "2", String(ttlMicros), member],
                on: self.group.next(), timeout: .seconds(2)
            ).get()
            return try #require(RedisLimitScripts.verdicts(answer, count: 1)).verdicts[0].allowed == true
        }
        #expect(try await acquire("a"))
        #expect(try await acquire("b"))
        #expect(try await acquire("c") == false, "a cap of 2")
        _ = try await client.evaluate(
            script: RedisLimitScripts.finish, keys: ["slots"], arguments: ["c", "a", "", ""], on: self.group.next(), timeout: .seconds(2)
        ).get()
        #expect(try await acquire("c"), "a released lease frees its slot")
        // Renewed leases stay; a lease nobody renews expires.
        #expect(try await self.run(client, "DEL", "slots").int == 1)
        #expect(try await acquire("short", ttlMicros: 300_000))
        #expect(try await acquire("kept", ttlMicros: 300_000))
        _ = try await client.evaluate(
            script: RedisLimitScripts.renew, keys: ["slots"], arguments: ["60000000", "kept"], on: self.group.next(), timeout: .seconds(2)
        ).get()
        // Polled: the unrenewed lease expires after its 300 ms.
        let deadline = ContinuousClock.now + .seconds(5)
        var freed = false
        while !freed && ContinuousClock.now < deadline {
            freed = try await acquire("new")
            if !freed { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(freed, "the unrenewed lease expired")
        #expect(try await acquire("newer") == false, "the renewed one still holds its slot")
        await client.shutdown()
    }

    @Test func aFlushedScriptIsRunFromItsSource() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server)
        #expect(try await self.run(client, "SCRIPT", "FLUSH") == .simpleString("OK"))
        let verdict = try await self.take(client, key: "r", limit: 10, periodMicros: 1e6, cost: 1)
        #expect(verdict.allowed == true)
        await client.shutdown()
    }

    @Test func aGoneServerFailsFastAndAReturningOneIsUsedAgain() async throws {
        let server = try await RedisServer.start()
        let health = HealthLog()
        let client = try await self.client(server, connections: 3, health: health)
        server.kill()
        try await Self.waitUntil { !client.isUp }
        let start = ContinuousClock.now
        await #expect(throws: RedisError.unavailable) { try await self.run(client, "PING") }
        #expect(ContinuousClock.now - start < .milliseconds(50), "no connection: the command is not sent, and nothing waits")
        let again = try await server.restarted()
        defer { again.kill() }
        try await Self.waitUntil(timeout: .seconds(10)) { client.isUp }
        #expect(try await self.run(client, "PING") == .simpleString("PONG"))
        // Three connections went down and came back, through several failed attempts: reported
        // once each way (a loaded machine may add a stall-and-recover pair, but never repeats a state).
        let changes = health.changes.withLockedValue { $0 }
        #expect(Array(changes.prefix(3)) == [true, false, true] && changes.last == true, "\(changes)")
        #expect(zip(changes, changes.dropFirst()).allSatisfy { $0 != $1 }, "\(changes)")
        await client.shutdown()
    }

    @Test func aStalledServerTimesOutThenRecovers() async throws {
        let server = try await RedisServer.start()
        defer { server.kill() }
        let client = try await self.client(server, connections: 1)
        server.pause()
        let start = ContinuousClock.now
        await #expect(throws: RedisError.timeout) { try await self.run(client, "PING", timeout: .milliseconds(30)) }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(30) && waited < .milliseconds(500))
        // The stalled connection was dropped: what comes next fails at once.
        try await Self.waitUntil { !client.isUp }
        await #expect(throws: RedisError.unavailable) { try await self.run(client, "PING") }
        server.resume()
        try await Self.waitUntil(timeout: .seconds(10)) { client.isUp }
        #expect(try await self.run(client, "PING") == .simpleString("PONG"))
        await client.shutdown()
    }
}

/// The health changes a client reported.
final class HealthLog: Sendable {
    let changes = NIOLockedValueBox<[Bool]>([])
}
