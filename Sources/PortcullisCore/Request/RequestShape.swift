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

    /// Checks `request` (read from `body`) against `endpoint`'s shape; records content-part
    /// features in `request.partFeatures`.
    public static func check(
        _ request: inout InferenceRequest, endpoint: EndpointKind, body bytes: UnsafeRawBufferPointer
    ) -> GatewayError? {
        switch endpoint {
        case .chatCompletions:
            guard let messages = request.messages, messages.kind != .null else { return .missingField("messages") }
            guard messages.kind == .array else { return .invalidField("messages", expected: .array) }
            return Self.checkMessages(UnsafeRawBufferPointer(rebasing: bytes[messages.range]), request: &request)
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

    /// One pass over `messages`: each message's members are looked at as they are scanned.
    private static func checkMessages(_ array: UnsafeRawBufferPointer, request: inout InferenceRequest) -> GatewayError? {
        let view = JSONView(array)
        var scanner = JSONScanner(array)
        var count = 0
        var problem: GatewayError?
        var role: JSONScanner.Member?
        var content: JSONScanner.Member?
        var duplicate: StaticString?
        do {
            _ = try scanner.scanTopLevelArray(
                member: { (_: Int, member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                    if view.key(member, equals: "role") {
                        if role != nil { duplicate = "role" }
                        role = member
                    } else if view.key(member, equals: "content") {
                        if content != nil { duplicate = "content" }
                        content = member
                    }
                },
                element: { (index: Int, _: Range<Int>, kind: JSONScanner.ValueKind) throws(JSONScanner.ScanError) in
                    defer {
                        count += 1
                        role = nil
                        content = nil
                        duplicate = nil
                    }
                    guard problem == nil else { return }
                    guard kind == .object else {
                        problem = .invalidField("messages[\(index)]", expected: .object)
                        return
                    }
                    problem = Self.checkMessage(
                        role: role, content: content, duplicate: duplicate, index: index, in: array, request: &request)
                })
        } catch {
            return .invalidField("messages", expected: .array)  // validated by the whole-body scan already
        }
        if let problem { return problem }
        return count == 0 ? .emptyField("messages") : nil
    }

    private static func checkMessage(
        role: JSONScanner.Member?, content: JSONScanner.Member?, duplicate: StaticString?, index: Int,
        in array: UnsafeRawBufferPointer, request: inout InferenceRequest
    ) -> GatewayError? {
        if let duplicate { return .duplicateField("messages[\(index)].\(duplicate)") }
        guard let role else { return .missingField("messages[\(index)].role") }
        let view = JSONView(array)
        guard role.kind == .string, Self.roles.contains(where: { view.stringEquals(role, $0) }) else {
            return .invalidField("messages[\(index)].role", expected: .role)
        }
        guard let content else { return nil }
        switch content.kind {
        case .string, .null: return nil
        case .array:
            return Self.checkParts(UnsafeRawBufferPointer(rebasing: array[content.valueRange]), message: index, request: &request)
        default:
            return .invalidField("messages[\(index)].content", expected: .content)
        }
    }

    /// One pass over a message's content parts: each needs one string `type`.
    private static func checkParts(_ array: UnsafeRawBufferPointer, message: Int, request: inout InferenceRequest) -> GatewayError? {
        let view = JSONView(array)
        var scanner = JSONScanner(array)
        var problem: GatewayError?
        var type: JSONScanner.Member?
        var repeated = false
        do {
            _ = try scanner.scanTopLevelArray(
                member: { (_: Int, member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                    guard view.key(member, equals: "type") else { return }
                    if type != nil { repeated = true }
                    type = member
                },
                element: { (index: Int, range: Range<Int>, kind: JSONScanner.ValueKind) throws(JSONScanner.ScanError) in
                    defer {
                        type = nil
                        repeated = false
                    }
                    guard problem == nil else { return }
                    // The path is built only for an error (no string per valid part).
                    func path(_ suffix: String = "") -> String { "messages[\(message)].content[\(index)]" + suffix }
                    guard kind == .object else {
                        problem = .invalidField(path(), expected: .object)
                        return
                    }
                    guard !repeated else {
                        problem = .duplicateField(path(".type"))
                        return
                    }
                    guard let type, type.kind == .string else {
                        problem = .invalidField(path(".type"), expected: .string)
                        return
                    }
                    if let feature = Self.partFeature(type, view: view) {
                        request.partFeatures.insert(feature)
                        // Media is counted apart in the prompt estimate (its bytes are not text);
                        // a part type the gateway cannot classify is counted by its bytes, like text
                        // (it may be text: vLLM reads `input_text`).
                        if feature != .otherContent {
                            request.mediaParts += 1
                            request.mediaBytes += range.count
                        }
                    }
                })
        } catch {
            return .invalidField("messages[\(message)].content", expected: .array)
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
