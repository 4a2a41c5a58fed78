import PortcullisConfig
import PortcullisCore

/// What the caller's plan allows, decided before any upstream work, and before anything that
/// would tell a tenant whether a model it may not use exists.
///
/// - Head phase, path-prefix routes (known before the body is read): a plan that limits its
///   routes, its models or its token caps allows a path route only when its `routes` lists it
///   (a path route forwards bodies the gateway does not read, so models and caps cannot be
///   checked there); otherwise 403 `route_not_allowed`.
/// - Body phase, OpenAI endpoints, right after inspection and before routing: a model outside
///   the plan's `models`, or routed to a route outside its `routes`, gets exactly the
///   unknown-model answer (404 `model_not_found`), before the route's own body limit or
///   authentication methods could answer differently.
///
/// A caller without a plan is not limited here. Token caps are ``TokenCapStage``.
struct PlanPolicyStage: Stage {
    let phase: StagePhase
    var name: String { self.phase == .head ? "plan(path)" : "plan(model)" }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard let plan = exchange.plan else { return .proceed }
        switch self.phase {
        case .head:
            guard exchange.endpoint == .pathRoute, let route = exchange.route else { return .proceed }
            if plan.restricts && !(plan.routes?.contains(route.name) ?? false) { return .refuse(.routeNotAllowed) }
            return .proceed
        case .body:
            // The model alone is read (no copy of the whole request).
            guard exchange.endpoint.readsModelFromBody, let model = exchange.request?.model else { return .proceed }
            // Not offered (outside its models, or routed outside its routes; an unrouted model
            // too): the answer an unknown model gets.
            guard plan.offers(model: model, router: exchange.snapshot.config.router) else {
                return .refuse(.modelNotFound(model))
            }
            return .proceed
        }
    }
}
