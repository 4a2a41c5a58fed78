import PortcullisCore

/// The end-of-request obligations of one exchange.
///
/// Stages and the forwarder ``register(_:)`` obligations as they take on work; the lifecycle
/// closes the ledger once with the exchange's ``Outcome`` and every obligation runs in reverse
/// order of registration (the last thing set up is the first torn down). Closing twice is a
/// programming error; an exchange dropped with open obligations trips an assertion in debug
/// builds (see `Exchange.deinit`). The first four obligations are stored inline: a request
/// with the usual few registers without an array allocation.
public struct RequestLedger {
    private var slot0: (any LedgerObligation)?
    private var slot1: (any LedgerObligation)?
    private var slot2: (any LedgerObligation)?
    private var slot3: (any LedgerObligation)?
    private var overflow: [any LedgerObligation] = []
    /// Obligations registered so far.
    public private(set) var count = 0
    /// Set once the ledger is closed.
    public private(set) var outcome: Outcome?

    public init() {}

    /// Whether obligations are registered and the ledger is not closed yet.
    public var isOpen: Bool { self.outcome == nil && self.count > 0 }

    public mutating func register(_ obligation: any LedgerObligation) {
        precondition(self.outcome == nil, "an obligation was registered after the ledger closed")
        switch self.count {
        case 0: self.slot0 = obligation
        case 1: self.slot1 = obligation
        case 2: self.slot2 = obligation
        case 3: self.slot3 = obligation
        default: self.overflow.append(obligation)
        }
        self.count += 1
    }

    /// Closes the ledger with `outcome` and returns what it held, to be run by the caller with
    /// ``runReversed(_:)`` outside any access to the ledger (an obligation may read the exchange).
    /// Returns nil when it was already closed.
    mutating func close(_ outcome: Outcome) -> RequestLedger? {
        guard self.outcome == nil else {
            assertionFailure("a request ledger was closed twice")
            return nil
        }
        let taken = self
        self = RequestLedger()
        self.outcome = outcome
        self.count = taken.count
        return taken
    }

    /// Runs every obligation, last registered first.
    func runReversed(_ run: (any LedgerObligation) -> Void) {
        var index = self.overflow.count
        while index > 0 {
            index -= 1
            run(self.overflow[index])
        }
        if let slot = self.slot3 { run(slot) }
        if let slot = self.slot2 { run(slot) }
        if let slot = self.slot1 { run(slot) }
        if let slot = self.slot0 { run(slot) }
    }
}
