/// The request-body keys the gateway acts on: the one list of their names, used by the
/// inspection scan and by the errors that name them (`param`).
///
/// Duplicating one of the top-level keys is refused: a backend that reads the other copy would
/// see a different request from the one that was authorised and routed.
public enum RequestKey: UInt16, Sendable, CaseIterable {
    case model = 1, stream = 2, streamOptions = 4, maxTokens = 8, maxCompletionTokens = 16, n = 32
    case messages = 64, prompt = 128, input = 256, user = 512
    /// `stream_options.include_usage` (nested, not a top-level key).
    case streamOptionsIncludeUsage = 1024
    case temperature = 2048, topP = 4096

    public var name: StaticString {
        switch self {
        case .model: "model"
        case .stream: "stream"
        case .streamOptions: "stream_options"
        case .maxTokens: "max_tokens"
        case .maxCompletionTokens: "max_completion_tokens"
        case .n: "n"
        case .messages: "messages"
        case .prompt: "prompt"
        case .input: "input"
        case .user: "user"
        case .streamOptionsIncludeUsage: "stream_options.include_usage"
        case .temperature: "temperature"
        case .topP: "top_p"
        }
    }

    /// The name as a `String` (the error `param`).
    public var label: String { String(describing: self.name) }

    /// The keys looked for at the top level of a request body.
    public static let topLevel: [RequestKey] = allCases.filter { $0 != .streamOptionsIncludeUsage }
}
