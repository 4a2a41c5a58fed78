import PortcullisConfig
import PortcullisCore
import Testing

/// Limits as the config states them: plan and tenant keys, shadow lists, top-level rules, and
/// the mistakes refused with their path.
@Suite struct LimitConfigTests {
    static let head = """
        listeners: [{ address: 127.0.0.1:0 }]
        backends:
          b: { endpoints: [http://127.0.0.1:9] }
        routes:
          - { name: chat, match: { model: m }, backend: b }
        authentication:
          apiKeys:
            - { name: k, tenant: t, sha256: "\(String(repeating: "a", count: 64))" }
        """

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: Self.head + "\n" + yaml)
            return []
        } catch {
            return error.diagnostics.map { "\($0.path): \($0.message)" }
        }
    }

    @Test func mistakesAreNamedByPath() {
        let found = problems(
            """
            plans:
              p: { limits: { requestsPerMinut: 5, shadow: [requestsPerMinute, nope] } }
            limits:
              - { name: a, requestsPerSecond: 1, routes: [missing], credentials: [k, ghost] }
              - { name: a, per: everyone, concurrency: 2 }
              - { name: b, methods: [jwt] }
              - { name: c, tokensPerMinute: 0, burst: 5 }
            tenants:
              t: { limits: { tokensPerHour: 100, burst: 2 } }
            """)
        let text = found.joined(separator: "\n")
        #expect(text.contains("plans.p.limits.requestsPerMinut: unknown key 'requestsPerMinut' (did you mean 'requestsPerMinute'?)"), "\(text)")
        #expect(text.contains("plans.p.limits.shadow: unknown limit 'nope'"), "\(text)")
        #expect(text.contains("unknown route 'missing'"), "\(text)")
        #expect(text.contains("no JWT provider, API key or client-certificate mapping is named 'ghost'"), "\(text)")
        #expect(!text.contains("named 'k'"), "\(text)")
        #expect(text.contains("limit 'a' is defined twice"), "\(text)")
        #expect(text.contains("limits[1].per: expected one of: global, tenant, user, credential"), "\(text)")
        #expect(text.contains("limits[2]: sets no limit"), "\(text)")
        #expect(text.contains("limits[3].tokensPerMinute"), "\(text)")
        #expect(text.contains("limits[3].burst: applies to a request rate, and none is set"), "\(text)")
        #expect(text.contains("tenants.t: limits.burst: applies to a request rate") || text.contains("limits.burst"), "\(text)")
        #expect(text.contains("needs maxTokens or defaultMaxTokens"), "\(text)")
    }

    @Test func aTenantOverridesEachLimitKeyAndRulesCompileOnePerLimit() throws {
        let snapshot = try ConfigLoader(environment: [:]).load(
            yaml: Self.head + "\n"
                + """
                tenants:
                  t: { plan: p, limits: { requestsPerMinute: 9, shadow: [concurrency] } }
                plans:
                  p: { limits: { requestsPerMinute: 5, burst: 2, concurrency: 3, tokensPerDay: 1000, maxPromptTokens: 50, maxTokens: 100 } }
                limits:
                  - { name: users, per: user, methods: [apiKey], requestsPerHour: 100, concurrency: 4, shadow: true }
                """)
        let policy = try #require(snapshot.tenants.tenants["t"]?.policy)
        #expect(policy.limitRules.map(\.name) == [.requestsPerMinute, .concurrency, .tokensPerDay])
        #expect(policy.limitRules.map(\.limit) == [9, 3, 1000])
        #expect(policy.limitRules.map(\.shadow) == [false, true, false])
        #expect(policy.limitRules[0].kind == .rate(GCRA(limit: 9, periodNanos: 60_000_000_000, burst: 2)))
        #expect(policy.limits.maxPromptTokens == 50 && policy.hasLimits)
        #expect(policy.limitsHeader == "rpm=9, burst=2, concurrency=3, tpd=1000, max-prompt-tokens=50, max-tokens=100")
        #expect(snapshot.limitRules.map(\.label) == ["users.requests_per_hour", "users.concurrency"])
        #expect(snapshot.limitRules.map(\.index) == [0, 1] && snapshot.limitRules.allSatisfy(\.shadow))
        #expect(snapshot.limitRules[0].key == "rule.users.requestsPerHour" && policy.limitRules[0].key == "plan.requestsPerMinute")
        #expect(snapshot.limitRules[0].matches(method: .apiKey, credential: "k", route: "chat", model: "m"))
        #expect(!snapshot.limitRules[0].matches(method: .jwt, credential: "k", route: "chat", model: "m"))
    }

    @Test func ceilingsAreTokenQuotasAndBudgetsOnly() throws {
        let snapshot = try ConfigLoader(environment: [:]).load(
            yaml: Self.head + "\n"
                + """
                tenants:
                  t: { plan: p, limits: { tokensPerHour: 900 } }
                plans:
                  p: { limits: { tokensPerMinute: 100, tokensPerHour: 1000, requestsPerMinute: 5, maxTokens: 10, ceiling: [tokensPerMinute] } }
                limits:
                  - { name: daily, per: tenant, tokensPerDay: 5000, requestsPerHour: 50, ceiling: true }
                """)
        let policy = try #require(snapshot.tenants.tenants["t"]?.policy)
        #expect(policy.limitRules.filter(\.ceiling).map(\.name) == [.tokensPerMinute], "the tenant keeps its plan's list")
        // A rule's ceiling applies to its quotas, not to its rate.
        #expect(snapshot.limitRules.map(\.ceiling) == [false, true])
        let found = problems(
            """
            plans:
              p: { limits: { requestsPerMinute: 5, tokensPerMinute: 9, maxTokens: 5, shadow: [tokensPerMinute], ceiling: [requestsPerMinute, tokensPerMinute, nope] } }
              q: { limits: { tokensPerHour: 100, maxTokens: 5, ceiling: [tokensPerHour] } }
            limits:
              - { name: r, requestsPerSecond: 1, ceiling: true }
              - { name: s, tokensPerDay: 100, shadow: true, ceiling: true }
              - { name: i, tokensPerDay: 100, tokenType: input, ceiling: true }
            tenants:
              t: { plan: q, limits: { shadow: [tokensPerHour] } }
              u: { limits: { tokensPerHour: 10, maxTokens: 5, tokenType: input, ceiling: [tokensPerHour, tokensPerDay] } }
            """)
        let text = found.joined(separator: "\n")
        #expect(text.contains("plans.p.limits.ceiling: 'requestsPerMinute' cannot be a ceiling: only token quotas and budgets can"), "\(text)")
        #expect(text.contains("'tokensPerMinute' is a shadow limit, which is never enforced"), "\(text)")
        #expect(text.contains("plans.p.limits.ceiling: unknown limit 'nope'"), "\(text)")
        #expect(text.contains("limits[0].ceiling: applies to token quotas and budgets, and none is set"), "\(text)")
        #expect(text.contains("limits[1].ceiling: a shadow rule is never enforced"), "\(text)")
        #expect(text.contains("limits[2].ceiling: the rule counts input tokens only"), "\(text)")
        // As merged: a tenant's shadow list undoes its plan's ceiling; an input quota cannot cut;
        // a ceiling names a limit that is set.
        #expect(text.contains("'tokensPerHour' is a shadow limit"), "\(text)")
        #expect(text.contains("'tokensPerHour' counts input tokens only"), "\(text)")
        #expect(text.contains("'tokensPerDay' is not set, so it cannot be a ceiling"), "\(text)")
    }

    @Test func aRedisStoreIsReadWithItsDefaultsAndFailureModes() throws {
        let snapshot = try ConfigLoader(environment: ["REDIS_PASSWORD": "s3cret"]).load(
            yaml: Self.head + "\n"
                + """
                limitStore:
                  redis: { address: "127.0.0.1:6380", password: "${REDIS_PASSWORD}", replicas: 3, timeout: 40ms, onFailure: open }
                tenants:
                  t: { limits: { requestsPerMinute: 9, onStoreFailure: closed } }
                limits:
                  - { name: jwt, per: user, requestsPerMinute: 500, onStoreFailure: local }
                """)
        let redis = try #require(snapshot.source.limitStore.redis)
        #expect(redis.host == "127.0.0.1" && redis.port == 6380)
        #expect(redis.password == "s3cret")
        #expect(redis.replicas == 3 && redis.timeoutNanos == 40_000_000 && redis.onFailure == .open)
        #expect(redis.connections == 2 && redis.leaseTTLNanos == 30_000_000_000 && redis.keyPrefix == "portcullis")
        #expect(snapshot.tenants.policies.first { $0.limitRules.contains { $0.name == .requestsPerMinute } }?.limitRules.first?.onStoreFailure == .closed)
        #expect(snapshot.limitRules.first?.onStoreFailure == .local)
        #expect(try ConfigLoader(environment: [:]).load(yaml: Self.head).source.limitStore.redis == nil, "in memory by default")
    }

    @Test func redisStoreMistakesAreNamedByPath() {
        let text = problems(
            """
            limitStore:
              redis: { address: "nohost", timeout: 10s, leaseTTL: 100ms, replicas: 0, onFailure: maybe, port: 1 }
            tenants:
              t: { limits: { requestsPerMinute: 1, onStoreFailure: sometimes } }
            """
        ).joined(separator: "\n")
        #expect(text.contains("limitStore.redis.address: expected HOST:PORT"), "\(text)")
        #expect(text.contains("limitStore.redis.port: unknown key"), "\(text)")
        let second = problems(
            """
            limitStore:
              redis: { address: "127.0.0.1:6379", timeout: 10s, leaseTTL: 100ms, replicas: 0, onFailure: maybe }
            tenants:
              t: { limits: { requestsPerMinute: 1, onStoreFailure: sometimes } }
            """
        ).joined(separator: "\n")
        #expect(second.contains("limitStore.redis.timeout: must be between 1ms and 5s"), "\(second)")
        #expect(second.contains("limitStore.redis.leaseTTL: must be at least 1s"), "\(second)")
        #expect(second.contains("limitStore.redis.replicas"), "\(second)")
        #expect(second.contains("limitStore.redis.onFailure: expected one of: local, open, closed"), "\(second)")
        #expect(second.contains("onStoreFailure: expected one of: local, open, closed"), "\(second)")
    }
}
