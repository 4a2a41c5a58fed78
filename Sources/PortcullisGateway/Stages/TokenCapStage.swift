import NIOCore
import PortcullisConfig
import PortcullisCore

/// The caller's plan bounds what a request may cost, after routing (so it edits the body that
/// will be forwarded, model rewrite included):
///
/// - `max_tokens` / `max_completion_tokens` above the plan's `limits.maxTokens` is 400
///   `invalid_value`, naming the key at fault;
/// - a chat or completions request that names neither gets `limits.defaultMaxTokens` (else
///   `maxTokens`) spliced in as the body's first member (`max_completion_tokens` for chat, the
///   field current OpenAI-compatible servers read; `max_tokens` for completions);
/// - one that names them as `null` (an explicit "no cap") gets that value written over the
///   `null`, so no second copy of the key is ever sent.
struct TokenCapStage: Stage {
    var name: String { "token-cap" }
    var phase: StagePhase { .body }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard let plan = exchange.plan, exchange.request != nil, exchange.endpoint == .chatCompletions
            || exchange.endpoint == .completions
        else { return .proceed }
        let cap = plan.limits.maxTokens
        let asked = exchange.request?.maxTokens
        if let cap, let asked, asked > cap {
            return .refuse(.valueTooLarge(param: exchange.request?.maxTokensKey ?? .maxTokens, max: cap))
        }
        guard asked == nil, let fallback = plan.limits.defaultMaxTokens ?? cap, let body = exchange.body, exchange.request != nil else {
            return .proceed
        }
        // The request's offsets match the body as it now is (a model rewrite moved them, see
        // ``InferenceRequest/afterModelRewrite(newLength:)``). Its fields are read in place (the
        // exchange is a class: binding the request would copy all of it).
        if exchange.request!.nullTokenValues.isEmpty {
            let key: RequestKey = exchange.endpoint == .chatCompletions ? .maxCompletionTokens : .maxTokens
            exchange.body = InferenceRequest.inserting(
                key, value: fallback, in: body, objectStart: exchange.request!.objectStart, objectIsEmpty: exchange.request!.objectIsEmpty)
        } else {
            exchange.body = exchange.request!.fillingNullTokenCaps(with: fallback, in: body)
        }
        return .proceed
    }
}
