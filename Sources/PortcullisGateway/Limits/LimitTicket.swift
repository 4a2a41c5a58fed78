import PortcullisConfig
import PortcullisCore

/// The limit stage's end-of-request obligation: releases every concurrency slot and settles
/// every token reservation of one exchange (a rate taken needs nothing back), exactly once, on every path (completed, refused
/// later, client gone, backend broken, timed out).
///
/// A reservation settles to the tokens the backend reported (`usage.total_tokens`, or the
/// prompt or completion count for a quota of that ``TokenKind``, kept also
/// when a stream broke or was abandoned). A request never forwarded used nothing and is
/// credited in full. One forwarded without reported usage is charged its whole reservation:
/// conservative, never zero. Counts were clamped when parsed (``Usage/maxCount``), and a
/// credit never moves a counter past full (``GCRA/adjust(tat:now:units:)``).
final class LimitTicket: LedgerObligation {
    let store: MemoryLimitStore
    /// Where charges taken in the shared store settle (nil: none were).
    let shared: SharedLimitStore?
    var charges: [LimitCharge]
    /// The charges held as hard ceilings, watched as a stream goes on (``checkCeilings(_:fragments:)``).
    var ceilings: [Ceiling]
    /// Settled: an extension a ceiling asked the shared store for that is answered later goes back.
    var isSettled = false
    /// Token and budget reservations this ticket holds, counted open on the loop until settled.
    let reservations: Int
    let metrics: LoopMetrics

    init(store: MemoryLimitStore, shared: SharedLimitStore? = nil, charges: [LimitCharge], metrics: LoopMetrics) {
        self.store = store
        self.shared = shared
        self.charges = charges
        self.metrics = metrics
        self.ceilings = charges.indices.compactMap { charges[$0].rule.ceiling ? Ceiling(index: $0) : nil }
        self.reservations = charges.reduce(0) { $0 + ($1.rule.name.isReserved ? 1 : 0) }
        metrics.reservationsOpened(self.reservations)
        shared?.opened()
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.isSettled = true
        self.metrics.reservationsSettled(self.reservations)
        let now = LimitStage.clock(exchange)
        var settlements: [SharedLimitStore.Settlement] = []
        for charge in self.charges {
            switch charge.rule.kind {
            case .concurrency:
                switch charge.place {
                case .memory: self.store.release(slot: charge.key, cell: charge.cell)
                case .shared(let key, let lease?): settlements.append(.release(key: key, lease: lease))
                case .shared: break
                }
            case .quota(let gcra):
                let used =
                    charge.rule.name.isBudget
                    ? Self.costUsed(exchange, reserved: charge.cost, price: charge.price)
                    : Self.tokensUsed(exchange, reserved: charge.cost, kind: charge.rule.tokens)
                switch charge.place {
                case .memory(let taken):
                    self.store.adjust(taken ?? gcra, key: charge.key, cell: charge.cell, units: charge.cost - used, now: now)
                case .shared(let key, _):
                    if used != charge.cost { settlements.append(.adjust(key: key, gcra: gcra, units: charge.cost - used)) }
                }
                if charge.rule.name.isBudget {
                    exchange.chargedMicros = max(exchange.chargedMicros ?? 0, used)
                } else {
                    exchange.chargedTokens = max(exchange.chargedTokens ?? 0, used)
                }
                exchange.usageMissing = exchange.forwardedAt != nil && exchange.usage == nil && used > 0
            case .rate:
                break
            }
        }
        if let shared = self.shared {
            shared.finish(settlements, affinity: SharedLimitStore.affinity(tenant: exchange.identity?.tenant), on: exchange.eventLoop)
            shared.settled()
        }
        self.charges = []
    }

    /// The µUSD a settled exchange is charged against a budget: its usage at the model's price,
    /// on the same terms as ``tokensUsed(_:reserved:kind:)`` (nothing if never forwarded or
    /// answered with an error without usage; the whole reservation if usage is missing).
    static func costUsed(_ exchange: Exchange, reserved: Int, price: ModelPrice?) -> Int {
        guard exchange.forwardedAt != nil else { return 0 }
        guard let usage = exchange.usage else {
            if let status = exchange.upstreamStatus, status >= 400 { return 0 }
            guard let generated = exchange.generatedTokens else { return reserved }
            return price?.cost(prompt: exchange.estimatedPromptTokens, completion: generated) ?? 0
        }
        return price?.cost(usage) ?? 0
    }

    /// The tokens a settled exchange is charged.
    static func tokensUsed(_ exchange: Exchange, reserved: Int, kind: TokenKind) -> Int {
        guard exchange.forwardedAt != nil else { return 0 }
        guard let usage = exchange.usage else {
            // A backend's error answer generated nothing. Any other answer without usage is
            // charged the prompt estimate and the text it generated as the gateway counted it
            // (a JSON or SSE answer), or else its whole reservation.
            if let status = exchange.upstreamStatus, status >= 400 { return 0 }
            guard let generated = exchange.generatedTokens else { return reserved }
            return kind.reserved(prompt: exchange.estimatedPromptTokens, completion: generated)
        }
        return kind.used(usage)
    }
}
