import PortcullisConfig
import PortcullisCore

/// The in-memory counters a snapshot's requests use most, resolved when the snapshot is built
/// and pinned in the store: each listed tenant's plan limits (by the tenant's position in the
/// config's table, then the rule's position in its plan), and each `per: global` top-level
/// rule. A request finds these by position and updates them without hashing a key or taking a
/// lock (``LimitCell``); every other counter (per user, per credential, an unlisted tenant, a
/// top-level rule per tenant) is found by key (``MemoryLimitStore``). A reload resolves them
/// again: a key it keeps finds the same cell, so no counter is reset.
final class LimitCells: Sendable {
    struct Tenant: Sendable {
        /// The policy the cells are for: a request whose plan is another (from a token) uses keys.
        let plan: PlanInfo
        let cells: [LimitCell]
    }

    let tenants: [Tenant?]
    /// By ``LimitRule/index``: the cell of each global rule (nil: not global).
    let rules: [LimitCell?]
    /// What was pinned, unpinned when the snapshot goes (its exchanges, which hold it, are over).
    private let store: MemoryLimitStore
    private let pinned: [LimitKey]

    init(tenants directory: TenantDirectory, rules: [LimitRule], store: MemoryLimitStore, planRuleIDs: [Int], ruleIDs: [Int]) {
        var tenants = [Tenant?](repeating: nil, count: directory.tenants.count)
        var pinned: [LimitKey] = []
        func pin(_ key: LimitKey, _ rule: LimitRule) -> LimitCell {
            pinned.append(key)
            return store.pinnedCell(key, isSlot: rule.kind.isSlot)
        }
        for info in directory.tenants.values {
            guard let plan = info.policy, !plan.limitRules.isEmpty, info.index < tenants.count else { continue }
            let cells = plan.limitRules.map { pin(LimitKey(rule: planRuleIDs[$0.name.ordinal], subject: info.name), $0) }
            tenants[info.index] = Tenant(plan: plan, cells: cells)
        }
        self.tenants = tenants
        self.rules = rules.map { rule in
            rule.scope == .global ? pin(LimitKey(rule: ruleIDs[rule.index], subject: ""), rule) : nil
        }
        self.store = store
        self.pinned = pinned
    }

    deinit {
        self.store.unpin(self.pinned)
    }

    /// The cells of the exchange's plan limits, aligned with its `limitRules` (nil: found by key).
    @inline(__always)
    func tenantCells(_ exchange: Exchange) -> [LimitCell]? {
        guard let index = exchange.tenantIndex, index < self.tenants.count, let tenant = self.tenants[index],
            tenant.plan === exchange.plan
        else { return nil }
        return tenant.cells
    }
}
