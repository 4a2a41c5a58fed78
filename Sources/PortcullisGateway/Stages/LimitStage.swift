import NIOCore
import PortcullisConfig
import PortcullisCore

/// Holds every tenant to its limits before any upstream work: the plan's (with the tenant's
/// overrides) and each top-level `limits:` rule the request matches, all of them together.
///
/// - Caps: `maxRequestBytes` lowers the body limit as soon as the caller is known (head
///   phase), so an oversized body is refused while it arrives (413); `maxPromptTokens` refuses
///   a request whose ``PromptEstimate`` is above it (413).
/// - Rates (GCRA, cost 1), token quotas (the estimate plus the request's `max_tokens`,
///   reserved now and settled to the backend's usage by ``LimitTicket``) and concurrency
///   slots (held until the exchange ends). All or nothing: when one enforced limit refuses,
///   what the others took is handed back, and the answer is 429 with `Retry-After`, naming the
///   limit. A shadow limit is counted exactly as if enforced (it takes what fits, and a slot
///   it took is released), but where it would refuse, the request goes on without it.
///
/// Counted limits run in the body phase for OpenAI endpoints (after routing and the token
/// caps, so a model-scoped rule and a reservation see the request), and in the head phase for
/// path routes, whose bodies are not read. Every route is governed.
struct LimitStage: Stage {
    let phase: StagePhase
    let store: MemoryLimitStore
    /// The Redis store when `limitStore.redis` is configured (the in-memory one then holds only
    /// the fallback counters).
    let shared: SharedLimitStore?
    /// The top-level rules.
    let rules: [LimitRule]
    /// The store's numbers of the plan rules' keys (by ``LimitName/ordinal``) and of the
    /// top-level rules' (by ``LimitRule/index``), resolved once.
    let planRuleIDs: [Int]
    let ruleIDs: [Int]
    /// The counters resolved for this snapshot (nil with a shared store, whose local counters
    /// are only a fallback, found by key). Each of the two stages resolves its own (the same
    /// cells: a key finds one cell).
    let cells: LimitCells?

    init(
        phase: StagePhase, store: MemoryLimitStore, shared: SharedLimitStore? = nil, rules: [LimitRule],
        tenants: TenantDirectory? = nil
    ) {
        self.phase = phase
        self.store = store
        self.shared = shared
        self.rules = rules
        let planRuleIDs = LimitName.allCases.map { store.ruleID(LimitRule.planKey($0)) }
        let ruleIDs = rules.map { store.ruleID($0.key) }
        self.planRuleIDs = planRuleIDs
        self.ruleIDs = ruleIDs
        self.cells = shared == nil && tenants != nil
            ? LimitCells(tenants: tenants!, rules: rules, store: store, planRuleIDs: planRuleIDs, ruleIDs: ruleIDs) : nil
    }

    var name: String { self.phase == .head ? "limits(head)" : "limits(body)" }

    /// The store's clock: the loop's monotonic one, in nanoseconds.
    @inline(__always)
    static func clock(_ exchange: Exchange) -> Int64 {
        Int64(truncatingIfNeeded: exchange.loop.now().uptimeNanoseconds)
    }

    func evaluate(_ exchange: Exchange) -> StageResult {
        let plan = exchange.plan
        if self.phase == .head, let cap = plan?.limits.maxRequestBytes, cap < exchange.bodyLimit, plan?.limits.isShadow(.maxRequestBytes) != true {
            exchange.bodyLimit = cap
            // Body bytes that arrived while an earlier head stage waited were held to the old limit.
            if exchange.requestBytes > cap { return .refuse(.bodyTooLarge(limit: cap, bodyRead: false)) }
        }
        guard (self.phase == .head) == (exchange.endpoint == .pathRoute) else { return .proceed }
        if let cap = plan?.limits.maxPromptTokens, let request = exchange.request {
            let estimate = PromptEstimate.tokens(bodyBytes: exchange.body?.readableBytes ?? 0, request: request)
            if estimate > cap {
                if plan?.limits.isShadow(.maxPromptTokens) != true { return .refuse(.promptTooLarge(estimate: estimate, limit: cap)) }
            }
        }
        let planRules = plan?.limitRules ?? []
        guard !planRules.isEmpty || !self.rules.isEmpty else { return .proceed }
        return self.count(exchange, planRules: planRules)
    }

    private func count(_ exchange: Exchange, planRules: [LimitRule]) -> StageResult {
        if let shared = self.shared { return self.countShared(exchange, planRules: planRules, store: shared) }
        let now = Self.clock(exchange)
        // The reservation is worked out only when a token quota applies (it may scan the body).
        var reservation: (prompt: Int, completion: Int)?
        var tally = LimitTally()
        tally.held.reserveCapacity(planRules.count + self.rules.count)
        let identity = exchange.identity
        func apply(_ rule: LimitRule, _ cell: LimitCell?) {
            guard tally.refusal == nil, var planned = self.plan(rule, exchange, identity: identity, reservation: &reservation) else {
                return
            }
            planned.cell = cell
            self.takeInMemory(planned, share: 1, now: now, exchange: exchange, into: &tally)
        }
        if let cells = self.cells?.tenantCells(exchange) {
            for (position, rule) in planRules.enumerated() { apply(rule, cells[position]) }
        } else {
            for rule in planRules { apply(rule, nil) }
        }
        Self.forEachMatching(self.rules, exchange) { apply($0, self.cells?.rules[$0.index]) }
        return self.conclude(exchange, tally, now: now)
    }

    /// What `rule` would take from the request (nil: it counts per caller and there is none).
    func plan(
        _ rule: LimitRule, _ exchange: Exchange, identity: Identity?, reservation: inout (prompt: Int, completion: Int)?
    ) -> PlannedLimit? {
        guard let key = self.key(rule, identity: identity, model: exchange.request?.model) else { return nil }
        var cost = 1
        var price: ModelPrice?
        if rule.name.isReserved {
            if reservation == nil {
                reservation = Self.reservation(exchange)
                exchange.estimatedPromptTokens = reservation!.prompt
            }
            if rule.name.isBudget {
                // A budget reserves what the request may cost at most: its estimated prompt and
                // its whole completion bound, at the model's price.
                // A model without a price costs nothing: the budget is not counted at all.
                guard let known = exchange.snapshot.config.prices.price(for: exchange.request?.model) else { return nil }
                price = known
                cost = known.cost(prompt: reservation!.prompt, completion: reservation!.completion)
            } else {
                cost = rule.tokens.reserved(prompt: reservation!.prompt, completion: reservation!.completion)
            }
        }
        return PlannedLimit(rule: rule, key: key, cost: cost, price: price)
    }

    /// Takes one limit in this process: its whole value, or (`share` > 1, a shared store's
    /// local fallback) the value divided by `share`, rounded up.
    func takeInMemory(_ planned: PlannedLimit, share: Int, now: Int64, exchange: Exchange, into tally: inout LimitTally) {
        switch planned.rule.kind {
        case .rate(let gcra), .quota(let gcra):
            var used = gcra
            if share > 1, let period = planned.rule.name.periodNanos {
                used = GCRA(limit: Self.share(gcra.limit, share), periodNanos: period, burst: Self.share(gcra.burst, share))
            }
            let decision = self.store.take(used, key: planned.key, cell: planned.cell, cost: planned.cost, now: now)
            tally.record(
                planned, allowed: decision.allowed, remaining: decision.remaining, resetNanos: decision.resetNanos,
                retryAfterNanos: decision.retryAfterNanos, place: .memory(used), exchange: exchange)
        case .concurrency(let max):
            let result = self.store.acquire(slot: planned.key, cell: planned.cell, max: Self.share(max, share), now: now)
            tally.record(planned, allowed: result.allowed, remaining: 0, resetNanos: 0, retryAfterNanos: 0, place: .memory(nil), exchange: exchange)
        }
    }

    /// One replica's share of a limit: `value / replicas`, rounded up, at least 1.
    @inline(__always)
    static func share(_ value: Int, _ replicas: Int) -> Int {
        replicas <= 1 ? value : Swift.max((value + replicas - 1) / replicas, 1)
    }

    /// Applies what the checks came to: the headers, a refusal (what was taken in memory goes
    /// back), or the ticket that settles what was taken when the exchange ends.
    func conclude(_ exchange: Exchange, _ tally: LimitTally, now: Int64) -> StageResult {
        if !tally.headers.isEmpty { exchange.rateLimitHeaders = tally.headers }
        if let refusal = tally.refusal {
            self.rollBack(tally.held, now: now)
            return .refuse(.limitExceeded(refusal))
        }
        // Rates need nothing at the end: a ticket only for slots and reservations.
        if tally.needsTicket {
            let ticket = LimitTicket(store: self.store, shared: self.shared, charges: tally.held, metrics: exchange.loop.metrics)
            // A check's slots and reservations outlive it: they are leased (``CheckLease``).
            if let leases = exchange.checkLeases {
                exchange.needsLease = true
                exchange.register(CheckLease(ticket: ticket, leases: leases))
            } else {
                exchange.register(ticket)
            }
            if !ticket.ceilings.isEmpty { exchange.ceilingTicket = ticket }
        }
        if tally.holdsQuota {
            exchange.countsGeneratedText = true
            Self.requestUsage(exchange)
        }
        return .proceed
    }

    /// The top-level rules `exchange` matches, in order.
    @inline(__always)
    static func forEachMatching(_ rules: [LimitRule], _ exchange: Exchange, _ body: (LimitRule) -> Void) {
        guard !rules.isEmpty else { return }
        let identity = exchange.identity
        let model = exchange.request?.model
        let route = exchange.route?.name
        for rule in rules where rule.matches(method: identity?.method, credential: identity?.credentialName, route: route, model: model) {
            body(rule)
        }
    }

    /// Every rule that applies to `exchange`: its plan's, then the matching top-level ones.
    static func applicable(_ exchange: Exchange, rules: [LimitRule]) -> [LimitRule] {
        var applied = exchange.plan?.limitRules ?? []
        Self.forEachMatching(rules, exchange) { applied.append($0) }
        return applied.filter { $0.scope == .global || ($0.scope == .model ? exchange.request != nil : exchange.identity != nil) }
    }

    /// A stream a token quota holds must report its usage, or it settles to its whole
    /// reservation: the backend is asked for it (`stream_options.include_usage`), and, when the
    /// client did not ask, the usage chunk is taken out of its stream (``UsageChunkFilter``).
    static func requestUsage(_ exchange: Exchange) {
        guard exchange.request?.stream == true, exchange.request?.includeUsage == false, var request = exchange.request,
            let body = exchange.body,
            exchange.endpoint == .chatCompletions || exchange.endpoint == .completions
        else { return }
        // The token-cap stage's insertion (after `{`) moved what follows it: `stream_options`
        // is found again in the body as it is now (a rare path: a stream with options but no usage).
        if request.streamOptions != nil {
            guard case .success(let fresh) = InferenceRequest.inspect(body) else { return }
            request = fresh
        }
        exchange.body = request.requestingUsage(in: body)
        exchange.hidesUsageChunk = true
    }

    /// What a refused request had already taken in memory goes back (the shared store's
    /// script writes nothing when it refuses).
    func rollBack(_ taken: [LimitCharge], now: Int64) {
        for charge in taken {
            guard case .memory(let gcra) = charge.place else { continue }
            if let gcra {
                self.store.adjust(gcra, key: charge.key, cell: charge.cell, units: charge.cost, now: now)
            } else {
                self.store.release(slot: charge.key, cell: charge.cell)
            }
        }
    }

    /// The tokens a request reserves against each token quota (the prompt part, the completion
    /// part, or both, as the quota's ``TokenKind`` counts): its estimated prompt and the most it
    /// may generate, `n` times (`max_tokens`, or the plan's default or cap that the
    /// token-cap stage put in; a request with no bound at all, possible only under a top-level
    /// rule, reserves ``unboundedCompletion``). Clamped to ``Usage/maxCount``: a request cannot
    /// overflow the arithmetic. A path route's body is not read: it reserves nothing, so it is
    /// refused only once a quota is spent, and settles to the usage its backend reports.
    static func reservation(_ exchange: Exchange) -> (prompt: Int, completion: Int) {
        guard let request = exchange.request else { return (0, 0) }
        let prompt = min(PromptEstimate.tokens(bodyBytes: exchange.body?.readableBytes ?? 0, request: request), Usage.maxCount)
        guard exchange.endpoint != .embeddings else { return (prompt, 0) }
        let limits = exchange.plan?.limits
        let bound = min(request.maxTokens ?? limits?.defaultMaxTokens ?? limits?.maxTokens ?? Self.unboundedCompletion, Usage.maxCount)
        var completions = max(request.choices, 1)
        if exchange.endpoint == .completions, let body = exchange.body {
            // A legacy completion may carry a batch of prompts, and `best_of` generates that many
            // server-side: each is a completion of up to the bound.
            let (prompts, bestOf) = body.withUnsafeReadableBytes { Self.completionsFanOut($0, request: request) }
            completions = Self.times(prompts, max(completions, bestOf))
        }
        return (prompt, min(Self.times(bound, completions), Usage.maxCount))
    }

    @inline(__always)
    private static func times(_ a: Int, _ b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Usage.maxCount : min(product, Usage.maxCount)
    }

    /// `/v1/completions`: how many prompts (an array of strings or of token arrays is a batch;
    /// a string or one token array is one prompt) and `best_of` (1 when absent or not a whole number).
    static func completionsFanOut(_ bytes: UnsafeRawBufferPointer, request: InferenceRequest) -> (prompts: Int, bestOf: Int) {
        var prompts = 1
        if let prompt = request.prompt, prompt.kind == .array {
            var count = 0
            var batch = false
            var scanner = JSONScanner(UnsafeRawBufferPointer(rebasing: bytes[prompt.range]))
            _ = try? scanner.scanTopLevelArray(element: { (_: Int, _: Range<Int>, kind: JSONScanner.ValueKind) throws(JSONScanner.ScanError) in
                count += 1
                if kind == .string || kind == .array { batch = true }
            })
            if batch { prompts = max(count, 1) }
        }
        var bestOf = 1
        let view = JSONView(bytes)
        var scanner = JSONScanner(bytes)
        _ = try? scanner.scanTopLevelObject { (member: JSONScanner.Member) throws(JSONScanner.ScanError) in
            if view.key(member, equals: "best_of"), let value = view.integerValue(member), value > 1 { bestOf = value }
        }
        return (prompts, bestOf)
    }

    /// What a request without any `max_tokens` bound reserves for its completion.
    static let unboundedCompletion = 4096

    /// Whose counter a rule charges (nil: the rule counts per caller, or per model, and there is none).
    func key(_ rule: LimitRule, identity: Identity?, model: String?) -> LimitKey? {
        let id = rule.index < 0 ? self.planRuleIDs[rule.name.ordinal] : self.ruleIDs[rule.index]
        switch rule.scope {
        case .global: return LimitKey(rule: id, subject: "")
        case .tenant: return identity.map { LimitKey(rule: id, subject: $0.tenant) }
        case .credential: return identity.map { LimitKey(rule: id, subject: $0.credentialName) }
        case .model: return model.map { LimitKey(rule: id, subject: $0) }
        case .user:
            return identity.map { LimitKey(rule: id, subject: $0.tenant + "\u{1F}" + ($0.subject ?? "")) }
        }
    }
}
