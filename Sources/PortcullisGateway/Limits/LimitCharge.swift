import PortcullisConfig
import PortcullisCore

/// What one request took from one counted limit, kept until it settles: a concurrency slot to
/// release, or a token reservation to settle to the usage the backend reported.
struct LimitCharge {
    /// Where the units were taken, and so where they are settled.
    enum Place {
        /// In this process, under this GCRA (the rule's own, or its local fallback share; nil: a slot).
        case memory(GCRA?)
        /// In the shared store, at this key; `lease` names a slot.
        case shared(key: String, lease: String?)
    }

    let rule: LimitRule
    let key: LimitKey
    /// Units taken: 1 slot, or the tokens reserved (a ceiling's extensions add to it).
    var cost: Int
    let place: Place
    /// A budget's price, to settle the usage in µUSD.
    var price: ModelPrice? = nil
    /// The key's pinned in-memory cell (nil: found by key).
    var cell: LimitCell? = nil
}
