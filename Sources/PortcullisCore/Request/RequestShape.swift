/// The per-endpoint shape of an OpenAI request, checked after the strict scan
/// (``InferenceRequest``) and before anything is routed, so a body a backend would refuse (or
/// misread) fails fast with a 400 whose `param` names the exact place, such as
/// `messages[2].role`. Messages never echo body text: only paths and what was expected.
///
/// - chat completions: `messages` is required, a non-empty array of objects; each has a
///   `role` among system, developer, user, assistant, tool and (deprecated, still in the
///   spec) function, given once; its `content`, when present, is a string, null, or an array
///   of objects each with a string `type`. Content parts of type `image_url`, `input_audio`
///   and `file` are recorded as features (``RequestFeature``) for the plan to allow or refuse.
/// - completions: `prompt` is required: a string, an array, or null (the spec allows null);
/// - embeddings: `input` is required: a string or an array.
///
/// Deliberately looser than the spec below that level: what is inside a token array, or the
/// other members of a message, is the backend's to judge (the spec's variants change often).
public enum RequestShape {
    static let roles: [StaticString] = ["system", "developer", "user", "assistant", "tool", "function"]

    /// What the chat check found while `messages` was scanned: the first problem, how many
    /// messages there were, and what the content parts use.
    public struct Messages: Sendable {
        public var problem: GatewayError?
        public var count = 0
        public var partFeatures = RequestFeature.Set()
        public var mediaParts = 0
        public var mediaBytes = 0

        public init() {}
    }

    /// Checks `request` (inspected, with `messages` already read by ``scanMessages(_:depth:into:)``
    /// for chat) against `endpoint`'s shape. The first problem in the grammar comes first: a
    /// body that is not strict JSON never gets here.
    static func check(_ request: InferenceRequest, endpoint: EndpointKind, messages found: Messages?) -> GatewayError? {
        switch endpoint {
        case .chatCompletions:
            guard let messages = request.messages, messages.kind != .null else { return .missingField("messages") }
            guard messages.kind == .array, let found else { return .invalidField("messages", expected: .array) }
            if let problem = found.problem { return problem }
            return found.count == 0 ? .emptyField("messages") : nil
        case .completions:
            guard let prompt = request.prompt else { return .missingField("prompt") }
            switch prompt.kind {
            case .string, .array, .null: return nil
            default: return .invalidField("prompt", expected: .stringOrArray)
            }
        case .embeddings:
            guard let input = request.input, input.kind != .null else { return .missingField("input") }
            switch input.kind {
            case .string, .array: return nil
            default: return .invalidField("input", expected: .stringOrArray)
            }
        default:
            return nil
        }
    }

    /// Scans the `messages` array (the scanner is at its `[`, at `depth`) as part of the one
    /// scan of the body, looking at each message's members as they go by. After the first
    /// problem the rest is only scanned (the grammar still holds every byte to account).
    public static func scanMessages(_ scanner: inout JSONScanner, depth: Int, into found: inout Messages) throws(JSONScanner.ScanError) {
        let view = JSONView(scanner.bytes)
        var array = try scanner.openArray(depth: depth)
        while try scanner.nextElement(in: &array) {
            let index = found.count
            found.count += 1
            guard found.problem == nil, scanner.nextByte() == UInt8(ascii: "{") else {
                _ = try scanner.scanValue(depth: depth + 1)
                if found.problem == nil { found.problem = .invalidField("messages[\(index)]", expected: .object) }
                continue
            }
            var role: JSONScanner.Member?
            var content: JSONScanner.Member?
            var duplicate: StaticString?
            var partsProblem: GatewayError?
            var message = try scanner.openObject(depth: depth + 1)
            while let key = try scanner.nextKey(in: &message) {
                let start = scanner.index
                let isContent = view.key(key.range, hasEscapes: key.hasEscapes, equals: "content")
                let kind: JSONScanner.ValueKind
                if isContent, content == nil, scanner.nextByte() == UInt8(ascii: "[") {
                    partsProblem = try Self.scanParts(&scanner, depth: depth + 2, message: index, into: &found)
                    kind = .array
                } else {
                    kind = try scanner.scanValue(depth: depth + 2)
                }
                let member = JSONScanner.Member(keyRange: key.range, keyHasEscapes: key.hasEscapes, valueRange: start..<scanner.index, kind: kind)
                if isContent {
                    if content != nil { duplicate = "content" }
                    content = member
                } else if view.key(key.range, hasEscapes: key.hasEscapes, equals: "role") {
                    if role != nil { duplicate = "role" }
                    role = member
                }
            }
            found.problem = Self.checkMessage(role: role, content: content, duplicate: duplicate, index: index, view: view) ?? partsProblem
        }
    }

    /// A message's own members, after its scan: what a content-part array held was checked as
    /// it was scanned, and comes after these.
    private static func checkMessage(
        role: JSONScanner.Member?, content: JSONScanner.Member?, duplicate: StaticString?, index: Int, view: JSONView
    ) -> GatewayError? {
        if let duplicate { return .duplicateField("messages[\(index)].\(duplicate)") }
        guard let role else { return .missingField("messages[\(index)].role") }
        guard role.kind == .string, Self.roles.contains(where: { view.stringEquals(role, $0) }) else {
            return .invalidField("messages[\(index)].role", expected: .role)
        }
        guard let content else { return nil }
        switch content.kind {
        case .string, .null, .array: return nil
        default: return .invalidField("messages[\(index)].content", expected: .content)
        }
    }

    /// A message's content parts (the scanner at the array's `[`): each needs one string
    /// `type`. Returns the first problem; records the features and media of valid parts.
    private static func scanParts(
        _ scanner: inout JSONScanner, depth: Int, message: Int, into found: inout Messages
    ) throws(JSONScanner.ScanError) -> GatewayError? {
        let view = JSONView(scanner.bytes)
        var problem: GatewayError?
        var array = try scanner.openArray(depth: depth)
        var index = 0
        while try scanner.nextElement(in: &array) {
            defer { index += 1 }
            // The path is built only for an error (no string per valid part).
            func path(_ suffix: String = "") -> String { "messages[\(message)].content[\(index)]" + suffix }
            let start = scanner.index
            guard problem == nil, scanner.nextByte() == UInt8(ascii: "{") else {
                _ = try scanner.scanValue(depth: depth + 1)
                if problem == nil { problem = .invalidField(path(), expected: .object) }
                continue
            }
            var type: JSONScanner.Member?
            var repeated = false
            var part = try scanner.openObject(depth: depth + 1)
            while let key = try scanner.nextKey(in: &part) {
                let valueStart = scanner.index
                let kind = try scanner.scanValue(depth: depth + 2)
                guard view.key(key.range, hasEscapes: key.hasEscapes, equals: "type") else { continue }
                if type != nil { repeated = true }
                type = JSONScanner.Member(keyRange: key.range, keyHasEscapes: key.hasEscapes, valueRange: valueStart..<scanner.index, kind: kind)
            }
            guard !repeated else {
                problem = .duplicateField(path(".type"))
                continue
            }
            guard let type, type.kind == .string else {
                problem = .invalidField(path(".type"), expected: .string)
                continue
            }
            if let feature = Self.partFeature(type, view: view) {
                found.partFeatures.insert(feature)
                // Media is counted apart in the prompt estimate (its bytes are not text); a part
                // type the gateway cannot classify is counted by its bytes, like text (it may be
                // text: vLLM reads `input_text`).
                if feature != .otherContent {
                    found.mediaParts += 1
                    found.mediaBytes += scanner.index - start
                }
            }
        }
        return problem
    }

    /// The feature a content part's `type` uses (nil: `text` or `refusal`; `other_content`: a
    /// type the gateway does not know, so a plan that lists features can refuse it).
    private static func partFeature(_ type: JSONScanner.Member, view: JSONView) -> RequestFeature? {
        if view.stringEquals(type, "text") || view.stringEquals(type, "refusal") { return nil }
        for (name, feature) in Self.partTypes where view.stringEquals(type, name) { return feature }
        return .otherContent
    }

    /// Content part types that use a feature: OpenAI's, and those OpenAI-compatible servers
    /// (vLLM) accept for the same inputs.
    static let partTypes: [(StaticString, RequestFeature)] = [
        ("image_url", .images), ("input_image", .images), ("image_embeds", .images), ("image_pil", .images),
        ("input_audio", .audio), ("audio_url", .audio), ("audio_embeds", .audio),
        ("file", .files), ("input_file", .files), ("video_url", .video),
    ]
}
