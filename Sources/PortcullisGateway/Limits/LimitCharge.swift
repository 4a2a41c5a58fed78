import PortcullisConfig

/// What one request took from one counted limit, kept until it settles: a concurrency slot to
/// release, or a token reservation to settle to the usage the backend reported.
struct LimitCharge {
    let rule: LimitRule
    let key: LimitKey
    /// Units taken: 1 slot, or the tokens reserved.
    let cost: Int
}
