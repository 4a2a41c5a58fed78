import PortcullisCore

/// Reads the OpenAI request body once, strictly: malformed JSON, a non-object body, a missing
/// or non-string model, a wrongly typed `stream`, duplicated keys the gateway acts on, and a
/// body outside its endpoint's shape (``RequestShape``: `messages`, `prompt`, `input`) are
/// refused here with 400, before anything is routed or forwarded.
struct RequestInspectionStage: Stage {
    /// Whether the field policy runs later (``FieldPolicyStage``): the scan then keeps every
    /// top-level member for it, so the body is not scanned a second time.
    var keepsMembers = false

    var name: String { "inspect" }
    var phase: StagePhase { .body }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard exchange.endpoint.readsModelFromBody else { return .proceed }
        guard let body = exchange.body, body.readableBytes > 0 else {
            return .refuse(.emptyBody)
        }
        switch InferenceRequest.inspect(body, endpoint: exchange.endpoint, keepingMembers: self.keepsMembers) {
        case .success(let request):
            exchange.request = request
            return .proceed
        case .failure(let error):
            return .refuse(error)
        }
    }
}
