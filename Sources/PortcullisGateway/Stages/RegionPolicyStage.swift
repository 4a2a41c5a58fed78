import PortcullisConfig
import PortcullisCore

/// A tenant whose policy names `regions` is only ever sent to a backend in one of them: the
/// first of the route's `backends` that is (its own `region`, else the gateway's). When none
/// is, 403 `region_not_allowed`, before any upstream work. A backend with no region at all
/// never serves a tenant limited to regions (fail closed).
///
/// Head phase for path routes (routed from the path), body phase right after model routing.
struct RegionPolicyStage: Stage {
    let phase: StagePhase
    var name: String { self.phase == .head ? "region(path)" : "region(model)" }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard let plan = exchange.plan, plan.regions != nil, let route = exchange.route,
            (self.phase == .head) == (exchange.endpoint == .pathRoute)
        else { return .proceed }
        guard let backend = plan.regionBackend(for: route) else {
            exchange.backend = nil
            return .refuse(.regionNotAllowed)
        }
        exchange.backend = backend
        return .proceed
    }
}
