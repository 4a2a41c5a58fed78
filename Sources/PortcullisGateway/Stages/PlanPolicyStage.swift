import PortcullisConfig
import PortcullisCore

/// What the caller's plan allows, decided before any upstream work. Runs like
/// ``RouteAuthenticationStage``: as a head stage for path-prefix routes (known before the body)
/// and as a body stage for model routes (once routing named the route).
///
/// - A model outside the plan's `models` gets exactly the unknown-model answer, 404
///   `model_not_found`, so a tenant cannot learn which models exist beyond its own.
/// - A route outside the plan's `routes` gets 403 `route_not_allowed`.
///
/// A caller without a plan (no plan in the tenant table or the token) is not limited here.
struct PlanPolicyStage: Stage {
    let phase: StagePhase
    var name: String { self.phase == .head ? "plan(path)" : "plan(model)" }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard exchange.endpoint.readsModelFromBody == (self.phase == .body), let plan = exchange.plan else {
            return .proceed
        }
        if let request = exchange.request, !plan.allows(model: request.model) {
            return .refuse(.modelNotFound(request.model))
        }
        if let routes = plan.routes, let route = exchange.route, !routes.contains(route.name) {
            return .refuse(.routeNotAllowed)
        }
        return .proceed
    }
}
