import NIOCore
import PortcullisCore

/// Chooses the route for an OpenAI request from its model (exact names beat globs, the
/// catch-all route takes the rest), refuses unknown models with 404 `model_not_found`, enforces the route's own body limit, and splices
/// in the upstream model name when the route rewrites it.
struct ModelRoutingStage: Stage {
    var name: String { "route" }
    var phase: StagePhase { .body }

    func evaluate(_ exchange: Exchange) -> StageResult {
        // Path routes were routed at the head. The model alone is read (the whole request is
        // copied only for a rewrite).
        guard let requested = exchange.request?.model else { return .proceed }
        let router = exchange.snapshot.config.router
        // A model no route names goes to the catch-all when there is one.
        guard let (route, model) = router.match(model: requested) ?? router.catchAll.map({ ($0, nil) }) else {
            return .refuse(.modelNotFound(requested))
        }
        exchange.route = route
        exchange.modelIndex = model
        if let body = exchange.body {
            if body.readableBytes > route.maxRequestBytes {
                // The body was read whole, so the connection can be kept.
                return .refuse(.bodyTooLarge(limit: route.maxRequestBytes, bodyRead: true))
            }
            if let upstreamModel = route.rewriteModel, !ExactName.same(upstreamModel, requested), let request = exchange.request {
                let rewritten = request.rewritingModel(in: body, to: upstreamModel)
                exchange.request = request.afterModelRewrite(newLength: rewritten.readableBytes - body.readableBytes + request.modelTokenRange.count)
                exchange.body = rewritten
            }
        }
        return .proceed
    }
}
