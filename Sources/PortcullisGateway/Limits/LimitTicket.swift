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
    private(set) var charges: [LimitCharge]

    init(store: MemoryLimitStore, charges: [LimitCharge]) {
        self.store = store
        self.charges = charges
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        let now = LimitStage.clock(exchange)
        for charge in self.charges {
            switch charge.rule.kind {
            case .concurrency:
                self.store.release(slot: charge.key)
            case .quota(let gcra):
                let used = Self.tokensUsed(exchange, reserved: charge.cost, kind: charge.rule.tokens)
                self.store.adjust(gcra, key: charge.key, units: charge.cost - used, now: now)
                exchange.chargedTokens = max(exchange.chargedTokens ?? 0, used)
                exchange.usageMissing = exchange.forwardedAt != nil && exchange.usage == nil && used > 0
            case .rate:
                break
            }
        }
        self.charges = []
    }

    /// The tokens a settled exchange is charged.
    static func tokensUsed(_ exchange: Exchange, reserved: Int, kind: TokenKind) -> Int {
        guard exchange.forwardedAt != nil else { return 0 }
        guard let usage = exchange.usage else {
            // A backend's error answer generated nothing; any other answer without usage is
            // charged in full.
            if let status = exchange.upstreamStatus, status >= 400 { return 0 }
            return reserved
        }
        return kind.used(usage)
    }
}
