import PortcullisConfig
import PortcullisCore

/// What the caller's plan allows, decided before any upstream work. Runs like
/// ``RouteAuthenticationStage``: as a head stage for path-prefix routes (known before the body)
/// and as a body stage for model routes (once routing named the route).
///
/// - A model outside the plan's `models` gets exactly the unknown-model answer, 404
///   `model_not_found`, so a tenant cannot learn which models exist beyond its own.
/// - A route outside the plan's `routes` gets 403 `route_not_allowed`.
/// - `max_tokens` / `max_completion_tokens` above the plan's `maxTokens` is 400 `invalid_value`
///   naming the key; a chat or completions request naming neither gets the plan's
///   `defaultMaxTokens` (else `maxTokens`) spliced in as the body's first member, so every
///   forwarded request has a bounded cost (`max_completion_tokens` for chat, the field current
///   OpenAI-compatible servers read; `max_tokens` for completions).
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
        if let request = exchange.request, exchange.endpoint != .embeddings {
            let cap = plan.limits.maxTokens
            if let cap, let asked = request.maxTokens, asked > cap {
                return .refuse(.valueTooLarge(param: request.maxTokensKey, max: cap))
            }
            if request.maxTokens == nil, let fallback = plan.limits.defaultMaxTokens ?? cap, let body = exchange.body {
                let key: RequestKey = exchange.endpoint == .chatCompletions ? .maxCompletionTokens : .maxTokens
                exchange.body = request.inserting(key, value: fallback, in: body)
            }
        }
        return .proceed
    }
}
