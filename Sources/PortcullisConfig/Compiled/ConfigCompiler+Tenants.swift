import PortcullisCore

extension ConfigCompiler {
    /// Plans, then tenants: each tenant's policy is its plan with its own overrides applied,
    /// compiled once here so the request path reads one object.
    func compileTenants(
        _ file: ConfigFile, regions: Set<String>, routes: [Route], report: (SourceLocation, String, String) -> Void
    ) -> TenantDirectory {
        var plans: [String: PlanInfo] = [:]
        let routeNames = Set(file.routes.map(\.name))
        func check(_ spec: PlanSpec, at location: SourceLocation) {
            for route in spec.routes ?? [] where !routeNames.contains(route) {
                report(location, "routes", "unknown route '\(route)'")
            }
            for region in spec.regions ?? [] where !regions.contains(region) {
                let known = regions.sorted().joined(separator: ", ")
                report(location, "regions", "no backend is in region '\(region)' (regions: \(known.isEmpty ? "none" : known))")
            }
            for field in spec.forbiddenFields ?? [] where field.isEmpty || RequestFields.shown(field) != field {
                report(location, "forbiddenFields", "'\(field)' is not a field name")
            }
            if let cap = spec.limits.maxTokens, let fallback = spec.limits.defaultMaxTokens, fallback > cap {
                report(location, "limits.defaultMaxTokens", "must not exceed maxTokens (\(cap))")
            }
            // Checked on the policy as merged (a tenant may set a burst for its plan's rate).
            let limits = spec.limits
            if limits.burst != nil && !LimitName.allCases.contains(where: { $0.isRequestRate && limits[$0] != nil }) {
                report(location, "limits.burst", "applies to a request rate, and none is set (requestsPerSecond, requestsPerMinute, requestsPerHour)")
            }
            // A token quota reserves each request's most it may cost, so that must be bounded.
            if LimitName.allCases.contains(where: { $0.isReserved && limits[$0] != nil }) && limits.maxTokens == nil
                && limits.defaultMaxTokens == nil
            {
                report(location, "limits", "a token quota or budget needs maxTokens or defaultMaxTokens, so every forwarded request's cost is bounded")
            }
            if LimitName.allCases.contains(where: { $0.isBudget && limits[$0] != nil }) && file.prices.isEmpty {
                report(location, "limits", "a budget needs prices: (what each model's tokens cost)")
            }
            // Ceilings, as merged (a tenant's `shadow` or `tokenType` may undo its plan's ceiling).
            for name in limits.ceiling ?? [] {
                if limits[name] == nil {
                    report(location, "limits.ceiling", "'\(name.rawValue)' is not set, so it cannot be a ceiling")
                } else if limits.isShadow(name) {
                    report(location, "limits.ceiling", "'\(name.rawValue)' is a shadow limit, which is never enforced: it cannot also be a ceiling")
                } else if name.isTokenQuota && limits.tokenType == .input {
                    report(location, "limits.ceiling", "'\(name.rawValue)' counts input tokens only, all spent before the stream starts: it cannot be a ceiling")
                }
            }
        }
        for plan in file.plans {
            Self.checkIdentityText(plan.name, at: plan.location, "name", report: report)
            check(plan, at: plan.location)
            plans[plan.name] = PlanInfo(spec: plan, routes: routes)
        }
        var tenants: [String: TenantInfo] = [:]
        for tenant in file.tenants {
            guard tenants[tenant.name] == nil else {
                report(tenant.location, "name", "tenant '\(tenant.name)' is listed twice")
                continue
            }
            Self.checkIdentityText(tenant.name, at: tenant.location, "name", report: report)
            if let org = tenant.org { Self.checkIdentityText(org, at: tenant.location, "org", report: report) }
            if MetricsSpec.reservedValues.contains(tenant.name) {
                report(tenant.location, "name", "'\(tenant.name)' is reserved (a metrics label value of the gateway's own)")
            }
            var policy: PlanInfo?
            if let plan = tenant.plan {
                policy = plans[plan]
                if policy == nil { report(tenant.location, "plan", "unknown plan '\(plan)'") }
            }
            if let overrides = tenant.overrides {
                // A tenant without a plan overrides an empty one (named after the tenant, for `/config`).
                let base = policy?.spec ?? PlanSpec(name: tenant.name, location: tenant.location)
                let merged = base.overridden(by: overrides)
                check(merged, at: tenant.location)
                policy = PlanInfo(spec: merged, tenant: tenant.name, routes: routes)
            }
            tenants[tenant.name] = TenantInfo(
                name: tenant.name, index: tenants.count, plan: tenant.plan, org: tenant.org, disabled: tenant.disabled,
                suspendedReason: tenant.suspendedReason, policy: policy)
        }
        return TenantDirectory(tenants: tenants, plans: plans)
    }
}
