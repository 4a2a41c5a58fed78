import NIOCore
import PortcullisConfig
import PortcullisCore

/// Hard ceilings: a token quota or budget marked `ceiling` is watched as its stream goes on.
///
/// A stream is judged by what it has visibly generated: its prompt estimate (as reserved) and
/// one token per non-empty text fragment (``GeneratedTextCounter/fragments``, a lower bound, so
/// a stream within its `max_tokens` never passes its reservation and is never cut). When a
/// stream goes past what its charge holds (a backend that ignores `max_tokens`, a path route
/// that reserved nothing, a request without any bound), the charge is extended from the quota
/// by the excess, at least ``step`` units (or, when that much is not left, the exact excess): in memory at once; in the shared store by one round
/// trip, during which the stream goes on. When the quota has no more to give, the forwarder
/// cuts the stream off with a final SSE error event (``ProxyHandler``), and the stream settles
/// to what its ceilings allowed. With Redis unreachable, an extension fails closed (the stream
/// is cut) only where the limit's store failure mode is `closed`; otherwise the ceiling stops
/// being watched for that stream, which keeps the bounded overshoot of a plain quota.
extension LimitTicket {
    /// One charge held as a ceiling.
    struct Ceiling {
        /// Its position in ``LimitTicket/charges``.
        let index: Int
        /// The quota has nothing more to give: the stream is cut once it passes its charge.
        var exhausted = false
        /// An extension is on its way to the shared store.
        var pending = false
        /// No longer watched (the shared store failed and the limit does not fail closed).
        var off = false
        /// Extensions are asked for ``LimitTicket/step`` at a time; once one is refused, only
        /// the exact excess is (the quota may still hold less than a step).
        var stepping = true
    }

    /// The smallest extension, in tokens, so a stream past its reservation does not ask the
    /// store for every fragment.
    static let step = 32

    /// Checks every ceiling against a stream that has generated `fragments` text fragments so
    /// far. Returns the charge whose ceiling the stream has reached (it must be cut now), or nil.
    func checkCeilings(_ exchange: Exchange, fragments: Int) -> LimitCharge? {
        for c in self.ceilings.indices where !self.ceilings[c].off {
            let index = self.ceilings[c].index
            let charge = self.charges[index]
            let used = Self.unitsSoFar(charge, exchange, fragments: fragments)
            guard used > charge.cost else { continue }
            if self.ceilings[c].exhausted { return charge }
            let excess = used - charge.cost
            let step = self.ceilings[c].stepping ? Swift.max(excess, Self.stepUnits(charge)) : excess
            switch charge.place {
            case .memory(let taken):
                guard case .quota(let gcra) = charge.rule.kind else { continue }
                let now = LimitStage.clock(exchange)
                if self.store.take(taken ?? gcra, key: charge.key, cell: charge.cell, cost: step, now: now).allowed {
                    self.charges[index].cost += step
                } else if step > excess && self.store.take(taken ?? gcra, key: charge.key, cell: charge.cell, cost: excess, now: now).allowed {
                    self.charges[index].cost += excess
                } else {
                    self.ceilings[c].exhausted = true
                    return charge
                }
            case .shared:
                if !self.ceilings[c].pending { self.extendShared(c, units: step, excess: excess, exchange) }
            }
        }
        return nil
    }

    /// What a stream has visibly used of `charge` so far, in its units.
    static func unitsSoFar(_ charge: LimitCharge, _ exchange: Exchange, fragments: Int) -> Int {
        if charge.rule.name.isBudget {
            return charge.price?.cost(prompt: exchange.estimatedPromptTokens, completion: fragments) ?? 0
        }
        return charge.rule.tokens.reserved(prompt: exchange.estimatedPromptTokens, completion: fragments)
    }

    /// ``step`` tokens in the charge's units (a budget's: their cost as output, at least 1 µUSD).
    static func stepUnits(_ charge: LimitCharge) -> Int {
        guard charge.rule.name.isBudget else { return Self.step }
        return Swift.max(charge.price?.cost(prompt: 0, completion: Self.step) ?? 1, 1)
    }

    /// Asks the shared store for `units` more of ceiling `c` (whose stream is `excess` past its
    /// charge), by one round trip. An answer that comes after the ticket settled is handed back
    /// at once. A refused step is asked again as the exact excess; a refused excess exhausts it.
    private func extendShared(_ c: Int, units: Int, excess: Int, _ exchange: Exchange) {
        guard let shared = self.shared else { return }
        let charge = self.charges[self.ceilings[c].index]
        guard case .quota(let gcra) = charge.rule.kind else { return }
        self.ceilings[c].pending = true
        shared.opened()
        let affinity = SharedLimitStore.affinity(tenant: exchange.identity?.tenant)
        let loop = exchange.eventLoop
        let planned = PlannedLimit(rule: charge.rule, key: charge.key, cost: units, price: charge.price)
        shared.take([planned], affinity: affinity, on: loop).assumeIsolated().whenComplete { result in
            defer { shared.settled() }
            self.ceilings[c].pending = false
            switch result {
            case .success(let answer):
                let allowed = answer.verdicts.first?.allowed == true
                if allowed && self.isSettled {
                    shared.finish([.adjust(key: answer.keys[0], gcra: gcra, units: units)], affinity: affinity, on: loop)
                } else if allowed {
                    self.charges[self.ceilings[c].index].cost += units
                } else if units > excess {
                    self.ceilings[c].stepping = false
                } else {
                    self.ceilings[c].exhausted = true
                }
            case .failure(let error):
                shared.counters.count(error)
                let mode = charge.rule.onStoreFailure ?? shared.spec.onFailure
                shared.counters.countFallback(mode)
                if mode == .closed { self.ceilings[c].exhausted = true } else { self.ceilings[c].off = true }
            }
        }
    }
}
