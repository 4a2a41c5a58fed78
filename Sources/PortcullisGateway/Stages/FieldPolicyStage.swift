import PortcullisConfig
import PortcullisCore

/// The body's top-level fields against the caller's plan and the route, after routing and
/// before any upstream work:
///
/// - a feature outside the plan's `features` (``RequestFeature``) is 403
///   `feature_not_allowed`, naming the feature;
/// - a field in the plan's `forbiddenFields` (set, not null) is 400 `field_not_allowed`;
/// - on a route with `unknownFields: reject`, a field the endpoint's spec does not define
///   (``RequestFields``) is 400 `unknown_parameter`.
///
/// In the pipeline only when some plan or route asks for one of these. It reads the top-level
/// members the inspection scan kept for it (``InferenceRequest/members``), so the body is
/// scanned once; without them (an exchange inspected elsewhere) it scans the top level itself.
struct FieldPolicyStage: Stage {
    var name: String { "fields" }
    var phase: StagePhase { .body }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard exchange.request != nil, let body = exchange.body else { return .proceed }
        let plan = exchange.plan
        let rejectsUnknown = exchange.route?.rejectsUnknownFields == true
        guard plan?.checksFields == true || rejectsUnknown else { return .proceed }
        let forbidden = plan?.forbiddenFields ?? []
        let forbiddenTable = plan?.forbiddenTable
        let result = body.withUnsafeReadableBytes { bytes in
            Self.scan(
                bytes, members: exchange.request?.members, endpoint: exchange.endpoint, forbidden: forbidden, forbiddenTable: forbiddenTable,
                rejectsUnknown: rejectsUnknown)
        }
        switch result {
        case .failure(let error):
            return .refuse(error)
        case .success(var features):
            features.bits |= exchange.request?.partFeatures.bits ?? 0
            if exchange.request?.stream == true { features.insert(.streaming) }
            if let allowed = plan?.features, let refused = features.firstOutside(allowed) {
                return .refuse(.featureNotAllowed(refused))
            }
            return .proceed
        }
    }

    /// The features the top level uses, or the first forbidden or unknown field: from `members`
    /// (the inspection's, offsets into `bytes`) when given, else from a scan of `bytes`.
    /// `rejectsUnknown`: a field `endpoint`'s spec does not define (``RequestFields``) is refused.
    static func scan(
        _ bytes: UnsafeRawBufferPointer, members: [JSONScanner.Member]? = nil, endpoint: EndpointKind, forbidden: [String],
        forbiddenTable: ByteNameTable? = nil, rejectsUnknown: Bool
    ) -> Result<RequestFeature.Set, GatewayError> {
        // The plan's table; built here only when a caller gives names alone (none: the shared empty one).
        var visitor = Visitor(
            bytes: bytes, view: JSONView(bytes), endpointBit: Self.endpointBit(endpoint), rejectsUnknown: rejectsUnknown, forbidden: forbidden,
            forbiddenTable: forbiddenTable ?? (forbidden.isEmpty ? Self.noNames : ByteNameTable(forbidden)), names: Self.fieldNames,
            facts: Self.fieldFacts)
        if endpoint == .embeddings { visitor.features.insert(.embeddings) }
        if let members {
            for member in members where visitor.problem == nil { visitor.visit(member) }
        } else {
            var scanner = JSONScanner(bytes)
            do {
                _ = try scanner.scanTopLevelObject { (member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                    if visitor.problem == nil { visitor.visit(member) }
                }
            } catch {
                return .failure(.malformedJSON(error))  // the inspection scan accepted it: unreachable
            }
        }
        if let problem = visitor.problem { return .failure(problem) }
        return .success(visitor.features)
    }

    /// One pass over the top-level members: the features they use, or the first problem. A
    /// value with its tables as fields (one reference each), not a closure over locals.
    private struct Visitor {
        let bytes: UnsafeRawBufferPointer
        let view: JSONView
        let endpointBit: UInt8
        let rejectsUnknown: Bool
        let forbidden: [String]
        let forbiddenTable: ByteNameTable
        let names: ByteNameTable
        let facts: [FieldFacts]
        var features = RequestFeature.Set()
        var problem: GatewayError?

        init(
            bytes: UnsafeRawBufferPointer, view: JSONView, endpointBit: UInt8, rejectsUnknown: Bool, forbidden: [String], forbiddenTable: ByteNameTable,
            names: ByteNameTable, facts: [FieldFacts]
        ) {
            self.bytes = bytes
            self.view = view
            self.endpointBit = endpointBit
            self.rejectsUnknown = rejectsUnknown
            self.forbidden = forbidden
            self.forbiddenTable = forbiddenTable
            self.names = names
            self.facts = facts
        }

        mutating func visit(_ member: JSONScanner.Member) {
            // One lookup per key, on its bytes (decoded only when it has escapes).
            let decoded = member.keyHasEscapes ? self.view.keyString(member) : nil
            let found = decoded.map { self.names.index(of: $0) } ?? self.names.index(of: UnsafeRawBufferPointer(rebasing: self.bytes[member.keyRange]))
            let facts = found.map { self.facts[$0] }
            if self.rejectsUnknown, self.endpointBit != 0, (facts?.definedBy ?? 0) & self.endpointBit == 0 {
                self.problem = .unknownField(RequestFields.shown(self.view.keyString(member)))
                return
            }
            guard member.kind != .null else { return }  // not set
            if !self.forbidden.isEmpty,
                let index = decoded.map({ self.forbiddenTable.index(of: $0) })
                    ?? self.forbiddenTable.index(of: UnsafeRawBufferPointer(rebasing: self.bytes[member.keyRange]))
            {
                self.problem = .fieldNotAllowed(self.forbidden[index])
                return
            }
            guard let meaning = facts?.meaning else { return }
            switch meaning {
            case .feature(let feature):
                self.features.insert(feature)
            case .responseFormat:
                if let type = FieldPolicyStage.responseFormatType(member, view: self.view) { self.features.insert(type) }
            case .logprobs:
                if member.kind != .bool(false) { self.features.insert(.logprobs) }
            case .choices:
                // Above 1, or anything but a whole number (a server may coerce "4").
                if case .value(let count) = self.view.wholeNumber(member), count <= 1 { return }
                self.features.insert(.multipleChoices)
            case .modalities:
                if FieldPolicyStage.names(member, view: self.view, "audio") { self.features.insert(.audio) }
            }
        }
    }

    /// What a top-level key (set, not null) says about the features used.
    private enum KeyMeaning {
        case feature(RequestFeature)
        case responseFormat, logprobs, choices, modalities
    }

    /// What the gateway knows of a top-level key: which endpoints' specs define it
    /// (``endpointBit(_:)``), and what it says about the features used.
    private struct FieldFacts {
        var definedBy: UInt8 = 0
        var meaning: KeyMeaning?
    }

    private static func endpointBit(_ endpoint: EndpointKind) -> UInt8 {
        switch endpoint {
        case .chatCompletions: 1
        case .completions: 2
        case .embeddings: 4
        default: 0
        }
    }

    private static let featureKeys: [(String, KeyMeaning)] = [
        ("tools", .feature(.tools)), ("tool_choice", .feature(.tools)), ("functions", .feature(.tools)),
        ("function_call", .feature(.tools)), ("response_format", .responseFormat), ("logprobs", .logprobs),
        ("top_logprobs", .feature(.logprobs)), ("prompt_logprobs", .feature(.logprobs)), ("n", .choices),
        ("best_of", .choices), ("audio", .feature(.audio)), ("modalities", .modalities),
        ("web_search_options", .feature(.webSearch)), ("guided_json", .feature(.jsonSchema)),
        ("guided_regex", .feature(.jsonSchema)), ("guided_grammar", .feature(.jsonSchema)),
        ("guided_choice", .feature(.jsonSchema)), ("structured_outputs", .feature(.jsonSchema)),
    ]

    /// Every key the specs define or that names a feature, built once from ``RequestFields``
    /// and ``featureKeys``: ``fieldNames`` finds a key's position in ``fieldFacts``.
    private static let fieldFacts: [FieldFacts] = Self.fieldTable.map(\.facts)
    private static let fieldNames = ByteNameTable(Self.fieldTable.map(\.name))
    private static let noNames = ByteNameTable([])
    private static var fieldTable: [(name: String, facts: FieldFacts)] {
        var facts: [String: FieldFacts] = [:]
        for endpoint in [EndpointKind.chatCompletions, .completions, .embeddings] {
            for name in RequestFields.known(for: endpoint) ?? [] { facts[name, default: .init()].definedBy |= Self.endpointBit(endpoint) }
        }
        for (name, meaning) in Self.featureKeys { facts[name, default: .init()].meaning = meaning }
        return facts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// `response_format.type`: `json_schema` or `json_object` as a feature.
    fileprivate static func responseFormatType(_ member: JSONScanner.Member, view: JSONView) -> RequestFeature? {
        guard member.kind == .object else { return nil }
        let object = UnsafeRawBufferPointer(rebasing: view.bytes[member.valueRange])
        let inner = JSONView(object)
        var scanner = JSONScanner(object)
        var feature: RequestFeature?
        _ = try? scanner.scanTopLevelObject { (field: JSONScanner.Member) throws(JSONScanner.ScanError) in
            guard inner.key(field, equals: "type") else { return }
            if inner.stringEquals(field, "json_schema") {
                feature = .jsonSchema
            } else if inner.stringEquals(field, "json_object") {
                feature = .jsonMode
            }
        }
        return feature
    }

    /// Whether an array member holds the string `text`.
    fileprivate static func names(_ member: JSONScanner.Member, view: JSONView, _ text: StaticString) -> Bool {
        guard member.kind == .array else { return false }
        let array = UnsafeRawBufferPointer(rebasing: view.bytes[member.valueRange])
        var scanner = JSONScanner(array)
        let elements = JSONView(array)
        var found = false
        _ = try? scanner.scanTopLevelArray { (_: Int, range: Range<Int>, kind: JSONScanner.ValueKind) throws(JSONScanner.ScanError) in
            if kind == .string && elements.string(at: range, equals: text) { found = true }
        }
        return found
    }
}
