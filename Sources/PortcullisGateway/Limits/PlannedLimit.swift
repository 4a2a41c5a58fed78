import PortcullisConfig
import PortcullisCore

/// One limit a request is about to be counted against: the rule, whose counter, and the units
/// it would take (1 request or slot, or the tokens reserved).
struct PlannedLimit {
    let rule: LimitRule
    let key: LimitKey
    let cost: Int
    /// The model's price, for a budget (nil: not a budget, or a model without a price).
    var price: ModelPrice? = nil
    /// The key's pinned in-memory cell, when the snapshot resolved it (``LimitCells``).
    var cell: LimitCell? = nil
}
