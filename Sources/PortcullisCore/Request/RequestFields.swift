/// The top-level fields the official OpenAI spec defines for each endpoint's request body
/// (`../shared/openai-spec/`, commit f85dbe2 of openai/openai-openapi). A route with
/// `unknownFields: reject` refuses any other top-level field with 400 `unknown_parameter`;
/// the default passes them through, because the API keeps growing and OpenAI-compatible
/// servers (vLLM, KServe) add their own (`top_k`, `guided_json`, ...).
public enum RequestFields {
    public static let chatCompletions: Swift.Set<String> = [
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
        "max_tokens", "messages", "metadata", "modalities", "model", "moderation", "n", "parallel_tool_calls", "prediction",
        "presence_penalty", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
    ]
    public static let completions: Swift.Set<String> = [
        "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "model", "n", "presence_penalty",
        "prompt", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
    ]
    public static let embeddings: Swift.Set<String> = ["dimensions", "encoding_format", "input", "model", "user"]

    /// The fields `endpoint` defines (nil: not an OpenAI body endpoint).
    public static func known(for endpoint: EndpointKind) -> Swift.Set<String>? {
        switch endpoint {
        case .chatCompletions: Self.chatCompletions
        case .completions: Self.completions
        case .embeddings: Self.embeddings
        default: nil
        }
    }
}

extension RequestFields {
    /// A client's field name as an error may show it: short printable ASCII as is, anything
    /// else not at all (an error never reflects arbitrary client bytes).
    public static func shown(_ name: String) -> String {
        let printable = name.utf8.count <= 64 && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") }
        return printable && !name.isEmpty ? name : "(an unrecognized field)"
    }
}
