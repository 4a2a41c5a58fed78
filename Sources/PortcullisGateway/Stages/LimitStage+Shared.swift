import NIOCore
import PortcullisConfig
import PortcullisCore

/// The limit stage with a shared (Redis) store: a bounded suspension of one round trip.
extension LimitStage {
    /// Past the store's timeout (which fails the call and falls back), the suspension's own
    /// deadline: a backstop, never reached while the store's timer works.
    static let storeBackstop: TimeAmount = .milliseconds(200)

    func countShared(_ exchange: Exchange, planRules: [LimitRule], store: SharedLimitStore) -> StageResult {
        var reservation: (prompt: Int, completion: Int)?
        var planned: [PlannedLimit] = []
        let identity = exchange.identity
        func add(_ rule: LimitRule) {
            if let limit = self.plan(rule, exchange, identity: identity, reservation: &reservation) { planned.append(limit) }
        }
        for rule in planRules { add(rule) }
        Self.forEachMatching(self.rules, exchange, add)
        guard !planned.isEmpty else { return .proceed }
        let loop = exchange.eventLoop
        // Counted as pending until the answer (or its failure) is in: a retired store stays open for it.
        store.opened()
        let affinity = SharedLimitStore.affinity(tenant: exchange.identity?.tenant)
        let decided = store.take(planned, affinity: affinity, on: loop).assumeIsolated().map { answer -> SuspensionResult in
            defer { store.settled() }
            return self.concludeShared(exchange, planned, answer, store: store)
        }.flatMapErrorThrowing { error -> SuspensionResult in
            defer { store.settled() }
            store.counters.count(error)
            return self.fallBack(exchange, planned, store: store)
        }.nonisolated()
        // The backstop grows with the timeout: a NOSCRIPT retry stays within the store's timeout.
        let backstop = Swift.max(Self.storeBackstop, .nanoseconds(store.spec.timeoutNanos / 2))
        return .suspend(Suspension(future: decided, deadline: .now() + store.timeout + backstop, stage: "limits"))
    }

    /// Redis answered: record each verdict up to the refusing one.
    private func concludeShared(
        _ exchange: Exchange, _ planned: [PlannedLimit], _ answer: SharedLimitStore.Answer, store: SharedLimitStore
    ) -> SuspensionResult {
        let now = Self.clock(exchange)
        var tally = LimitTally()
        for (index, limit) in planned.enumerated() {
            let verdict = answer.verdicts[index]
            guard let allowed = verdict.allowed else { break }
            tally.record(
                limit, allowed: allowed, remaining: verdict.remaining, resetNanos: verdict.resetNanos,
                retryAfterNanos: verdict.retryAfterNanos, place: .shared(key: answer.keys[index], lease: allowed ? answer.leases[index] : nil),
                exchange: exchange)
        }
        if tally.refusal == nil {
            for charge in tally.held {
                if case .shared(let key, let lease?) = charge.place { store.hold(lease: lease, key: key) }
            }
        }
        return self.finishWait(exchange, tally, now: now)
    }

    /// Redis could not answer in time: each limit does what it is configured to
    /// (``StoreFailureMode``), counted in `portcullis_limit_store_fallbacks_total`.
    private func fallBack(_ exchange: Exchange, _ planned: [PlannedLimit], store: SharedLimitStore) -> SuspensionResult {
        let now = Self.clock(exchange)
        var tally = LimitTally()
        for limit in planned {
            let mode = limit.rule.onStoreFailure ?? store.spec.onFailure
            store.counters.countFallback(mode)
            switch mode {
            case .local:
                self.takeInMemory(limit, share: store.spec.replicas, now: now, exchange: exchange, into: &tally)
            case .open:
                continue
            case .closed where !limit.rule.shadow:
                self.rollBack(tally.held, now: now)
                return .refuse(.dependencyFailed(stage: "limits"))
            case .closed:
                continue
            }
            if tally.refusal != nil { break }
        }
        return self.finishWait(exchange, tally, now: now)
    }

    /// The end of the wait: an exchange that ended meanwhile (the client left, the deadline
    /// passed) hands back at once what was taken for it; otherwise the stage concludes.
    private func finishWait(_ exchange: Exchange, _ tally: LimitTally, now: Int64) -> SuspensionResult {
        if let outcome = exchange.outcome {
            if tally.refusal != nil {
                self.rollBack(tally.held, now: now)
            } else if tally.needsTicket {
                LimitTicket(store: self.store, shared: self.shared, charges: tally.held, metrics: exchange.loop.metrics)
                    .settle(exchange, outcome: outcome)
            }
            return .proceed
        }
        switch self.conclude(exchange, tally, now: now) {
        case .refuse(let error): return .refuse(error)
        default: return .proceed
        }
    }
}
