

/// Where an exchange was in its life.
public enum ExchangePhase: String, Sendable, Hashable, CaseIterable {
    /// Head stages (authentication) running or waiting.
    case headStages = "head_stages"
    /// The request body is being read.
    case body
    /// Body stages (inspection, routing, later policy and limits) running or waiting.
    case bodyStages = "body_stages"
    /// Connecting to an upstream endpoint.
    case upstreamConnect = "upstream_connect"
    /// The request was sent; waiting for the response head.
    case upstreamResponse = "upstream_response"
    /// Response parts are flowing to the client.
    case streaming
    /// The last part is written; waiting for the client to take it.
    case writingResponse = "writing_response"
}
