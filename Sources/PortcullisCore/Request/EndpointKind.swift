/// Which endpoint a request addressed: one of the fixed OpenAI endpoints, a path-prefix route,
/// or none. The one place the fixed endpoint paths are listed (the config compiler refuses
/// path-prefix routes that would shadow them).
public enum EndpointKind: String, Sendable, CaseIterable {
    case chatCompletions = "chat.completions"
    case completions
    case embeddings
    case models
    case model
    case pathRoute = "path"
    /// No endpoint: the request could not be read far enough (an unparseable or slow head).
    case none

    /// The path of a fixed endpoint.
    public var fixedPath: String? {
        switch self {
        case .chatCompletions: "/v1/chat/completions"
        case .completions: "/v1/completions"
        case .embeddings: "/v1/embeddings"
        case .models: "/v1/models"
        case .model, .pathRoute, .none: nil
        }
    }

    private static let fixedEndpoints: [EndpointKind] = [.chatCompletions, .completions, .embeddings, .models]

    /// The fixed endpoint at exactly `path`, if any (`/v1/models/{id}` is matched separately,
    /// after path-prefix routes, so a KServe route under `/v1/models/` wins).
    public static func fixed(path: String) -> EndpointKind? {
        for endpoint in Self.fixedEndpoints where endpoint.fixedPath == path { return endpoint }
        return nil
    }

    /// Paths of the fixed endpoints.
    public static let fixedPaths: Set<String> = Set(Self.fixedEndpoints.compactMap(\.fixedPath))

    /// Prefix of `GET /v1/models/{id}`.
    public static let modelPrefix = "/v1/models/"

    /// OpenAI endpoints carry the model in a JSON body.
    public var readsModelFromBody: Bool {
        switch self {
        case .chatCompletions, .completions, .embeddings: true
        case .models, .model, .pathRoute, .none: false
        }
    }

    /// The one method the endpoint accepts (nil: path routes accept what the backend accepts).
    public var allowedMethod: String? {
        switch self {
        case .chatCompletions, .completions, .embeddings: "POST"
        case .models, .model: "GET"
        case .pathRoute, .none: nil
        }
    }
}
