import NIOCore
import PortcullisConfig
import PortcullisCore

/// The number of exchanges in flight on one loop: counted up when an exchange starts,
/// down by its ledger. Summed over loops by the runtime (admin, tests).
final class InFlightCounter: LedgerObligation {
    private(set) var count = 0

    func started() {
        self.count += 1
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.count -= 1
    }
}
