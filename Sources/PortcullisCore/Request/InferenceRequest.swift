import NIOCore

/// What the gateway learned from an OpenAI-shaped request body, after one strict scan.
///
/// Only the keys the gateway acts on are extracted; the body itself is forwarded as received
/// (or with the model value spliced, see ``rewritingModel(in:to:)``).
public struct InferenceRequest: Sendable, Equatable {
    public var model: String
    /// Byte range of the model's string token (quotes included), relative to the body's reader index.
    public var modelTokenRange: Range<Int>
    public var stream: Bool
    public var includeUsage: Bool
    /// `max_tokens` or `max_completion_tokens` (whichever the body has; both are checked).
    public var maxTokens: Int?
    /// Which of the two keys set ``maxTokens``.
    public var maxTokensKey: RequestKey = .maxTokens
    /// Byte offset of the top-level object's `{` in the body, and whether the object is empty
    /// (where a default `max_tokens` is spliced in).
    public var objectStart = 0
    public var objectIsEmpty = false
    /// Byte ranges of `max_tokens` / `max_completion_tokens` members whose value is `null`
    /// (an explicit "no cap": replaced by the plan's default, never left beside an inserted one).
    public var nullTokenValues: [Range<Int>] = []
    /// The top-level keys the gateway acts on that the body has (``RequestKey`` bits).
    public var keys: UInt16 = 0
    /// The values of `messages`, `prompt` and `input` (byte range and kind), for the
    /// endpoint's shape check (``RequestShape``).
    public var messages: Value?
    public var prompt: Value?
    public var input: Value?
    /// Features read from message content parts by ``RequestShape`` (images, audio, files).
    public var partFeatures = RequestFeature.Set()
    /// Content parts that are not text (images, audio, files, video, unknown types) and their
    /// bytes, for ``PromptEstimate``.
    public var mediaParts = 0
    public var mediaBytes = 0
    /// `n`: how many completions the request asks for (1 when absent).
    public var choices = 1
    /// The `stream_options` value, and the `include_usage` value inside it (absolute ranges).
    public var streamOptions: Value?
    public var includeUsageValue: Range<Int>?
    /// Every top-level member, in order, when the inspection was asked to keep them
    /// (`keepingMembers`): the field policy reads them instead of scanning the body again.
    /// Kept true across a model rewrite (``afterModelRewrite(newLength:)``), not past the
    /// token cap's insertion, which comes after the field policy.
    public var members: [JSONScanner.Member]?

    /// A value's byte range (relative to the body's reader index) and kind.
    public struct Value: Sendable, Equatable {
        public var range: Range<Int>
        public var kind: JSONScanner.ValueKind

        init(_ member: JSONScanner.Member) {
            self.range = member.valueRange
            self.kind = member.kind
        }
    }

    /// Scans `body` (strict JSON, top-level object) and extracts the fields the gateway acts on.
    /// With an `endpoint`, the body is also held to that endpoint's shape (``RequestShape``),
    /// in the same scan: chat messages are checked as `messages` is scanned.
    public static func inspect(
        _ body: ByteBuffer, endpoint: EndpointKind? = nil, keepingMembers: Bool = false
    ) -> Result<InferenceRequest, GatewayError> {
        body.withUnsafeReadableBytes { bytes in
            self.inspect(bytes, endpoint: endpoint, keepingMembers: keepingMembers)
        }
    }

    public static func inspect(
        _ bytes: UnsafeRawBufferPointer, endpoint: EndpointKind? = nil, keepingMembers: Bool = false
    ) -> Result<InferenceRequest, GatewayError> {
        let view = JSONView(bytes)
        var scanner = JSONScanner(bytes)
        var seen: UInt16 = 0
        var modelMember: JSONScanner.Member?
        var streamMember: JSONScanner.Member?
        var optionsMember: JSONScanner.Member?
        var maxTokensMember: JSONScanner.Member?
        var maxCompletionTokensMember: JSONScanner.Member?
        var temperatureMember: JSONScanner.Member?
        var topPMember: JSONScanner.Member?
        var nMember: JSONScanner.Member?
        var messagesMember: JSONScanner.Member?
        var promptMember: JSONScanner.Member?
        var inputMember: JSONScanner.Member?
        var members = 0
        var kept: [JSONScanner.Member] = []
        if keepingMembers { kept.reserveCapacity(16) }
        var duplicate: RequestKey?
        var shape: RequestShape.Messages?
        do {
            guard try scanner.startDocument() else {
                _ = try scanner.scanValue(depth: 1)
                try scanner.endDocument()
                return .failure(.notAnObject)
            }
            var object = try scanner.openObject(depth: 1)
            while let key = try scanner.nextKey(in: &object) {
                let start = scanner.index
                let found = Self.classify(key.range, hasEscapes: key.hasEscapes, view: view)
                let kind: JSONScanner.ValueKind
                if found == .messages, endpoint == .chatCompletions, shape == nil, scanner.nextByte() == UInt8(ascii: "[") {
                    var messages = RequestShape.Messages()
                    try RequestShape.scanMessages(&scanner, depth: 2, into: &messages)
                    shape = messages
                    kind = .array
                } else {
                    kind = try scanner.scanValue(depth: 2)
                }
                let member = JSONScanner.Member(keyRange: key.range, keyHasEscapes: key.hasEscapes, valueRange: start..<scanner.index, kind: kind)
                members += 1
                if keepingMembers { kept.append(member) }
                guard duplicate == nil, let found else { continue }
                if seen & found.rawValue != 0 {
                    duplicate = found
                    continue
                }
                seen |= found.rawValue
                switch found {
                case .model: modelMember = member
                case .stream: streamMember = member
                case .streamOptions: optionsMember = member
                case .maxTokens: maxTokensMember = member
                case .maxCompletionTokens: maxCompletionTokensMember = member
                case .temperature: temperatureMember = member
                case .topP: topPMember = member
                case .n: nMember = member
                case .messages: messagesMember = member
                case .prompt: promptMember = member
                case .input: inputMember = member
                default: break
                }
            }
            try scanner.endDocument()
        } catch {
            return .failure(.malformedJSON(error))
        }
        if let duplicate {
            return .failure(.duplicateKey(duplicate))
        }
        guard let modelMember else { return .failure(.missingModel) }
        guard let model = view.stringValue(modelMember), !model.isEmpty else { return .failure(.modelNotString) }

        var stream = false
        if let streamMember {
            switch streamMember.kind {
            case .bool(let value): stream = value
            case .null: break
            default: return .failure(.invalidType(param: .stream, expected: .boolean))
            }
        }
        var includeUsage = false
        var includeUsageValue: Range<Int>?
        if let optionsMember {
            switch optionsMember.kind {
            case .null: break
            case .object:
                switch Self.includeUsage(in: UnsafeRawBufferPointer(rebasing: bytes[optionsMember.valueRange])) {
                case .success(let (value, range)):
                    includeUsage = value
                    includeUsageValue = range.map { ($0.lowerBound + optionsMember.valueRange.lowerBound)..<($0.upperBound + optionsMember.valueRange.lowerBound) }
                case .failure(let error): return .failure(error)
                }
            default: return .failure(.invalidType(param: .streamOptions, expected: .object))
            }
        }
        // Token caps: whole numbers of at least 1 (`16.0` and `1e2` count, as in JSON Schema);
        // `-1`, `0`, `1.5` and `"100"` are refused, and a value past 2^63-1 is out of range, never
        // wrapped. Each error names the key actually at fault.
        var maxTokens: Int?
        var maxTokensKey = RequestKey.maxTokens
        var nullTokenValues: [Range<Int>] = []
        for key in Self.tokenCapKeys {
            guard let member = key == .maxTokens ? maxTokensMember : maxCompletionTokensMember else { continue }
            if member.kind == .null {
                nullTokenValues.append(member.valueRange)
                continue
            }
            switch Self.positiveWhole(member, key: key, view: view) {
            case .success(let value):
                if maxTokens == nil || value > maxTokens! {  // the larger one is what a cap must hold
                    maxTokens = value
                    maxTokensKey = key
                }
            case .failure(let error): return .failure(error)
            }
        }
        // Sampling parameters: numbers in the ranges the API defines (null: the default), the
        // first in the body named first when both are wrong.
        func sampling(_ key: RequestKey, _ member: JSONScanner.Member?) -> GatewayError? {
            guard let member, member.kind != .null else { return nil }
            let range: ClosedRange<Double> = key == .temperature ? 0...2 : 0...1
            guard member.kind == .number, let value = Self.double(UnsafeRawBufferPointer(rebasing: bytes[member.valueRange])) else {
                return .invalidType(param: key, expected: .number)
            }
            return range.contains(value) ? nil : .valueOutOfRange(param: key, range: range)
        }
        let topPFirst = (topPMember?.keyRange.lowerBound ?? .max) < (temperatureMember?.keyRange.lowerBound ?? .max)
        if let problem = topPFirst
            ? sampling(.topP, topPMember) ?? sampling(.temperature, temperatureMember)
            : sampling(.temperature, temperatureMember) ?? sampling(.topP, topPMember)
        {
            return .failure(problem)
        }
        var choices = 1
        if let nMember, nMember.kind != .null {
            switch Self.positiveWhole(nMember, key: .n, view: view) {
            case .failure(let error): return .failure(error)
            case .success(let n): choices = n
            }
        }
        var objectStart = 0
        while objectStart < bytes.count && bytes[objectStart] != UInt8(ascii: "{") { objectStart += 1 }
        var request = InferenceRequest(
            model: model, modelTokenRange: modelMember.valueRange, stream: stream, includeUsage: includeUsage,
            maxTokens: maxTokens)
        request.maxTokensKey = maxTokensKey
        request.objectStart = objectStart
        request.objectIsEmpty = members == 0
        request.nullTokenValues = nullTokenValues.sorted { $0.lowerBound < $1.lowerBound }
        request.keys = seen
        request.choices = choices
        request.streamOptions = optionsMember.map(Value.init)
        request.includeUsageValue = includeUsageValue
        request.messages = messagesMember.map(Value.init)
        request.prompt = promptMember.map(Value.init)
        request.input = inputMember.map(Value.init)
        if keepingMembers { request.members = kept }
        if let endpoint {
            if let shape {
                request.partFeatures = shape.partFeatures
                request.mediaParts = shape.mediaParts
                request.mediaBytes = shape.mediaBytes
            }
            if let problem = RequestShape.check(request, endpoint: endpoint, messages: shape) { return .failure(problem) }
        }
        return .success(request)
    }

    private static let tokenCapKeys: [RequestKey] = [.maxTokens, .maxCompletionTokens]

    /// A JSON number token's value. A plain decimal (`0.7`, `1`, `-0.25`) of at most 15 digits
    /// is exact as its digits over a power of ten: both are exact doubles, so the one division
    /// rounds correctly and gives what `strtod` gives (Clinger's fast path). Anything else
    /// (exponents, longer digit strings) goes to `strtod`.
    public static func double(_ token: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        let negative = token.first == UInt8(ascii: "-")
        if negative { i = 1 }
        var digits: Int64 = 0
        var count = 0
        var fraction = -1  // digits after the point, once one is seen
        while i < token.count {
            let byte = token[i]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits = digits * 10 + Int64(byte - UInt8(ascii: "0"))
                count += 1
                if fraction >= 0 { fraction += 1 }
            } else if byte == UInt8(ascii: "."), fraction < 0 {
                fraction = 0
            } else {
                count = .max  // an exponent: the slow path
                break
            }
            if count > 15 { break }
            i += 1
        }
        if count <= 15, count > 0 {
            let value = Double(digits) / Self.powersOfTen[max(fraction, 0)]
            return negative ? -value : value
        }
        return Double(String(decoding: token, as: UTF8.self))
    }

    private static let powersOfTen: [Double] = (0...15).map { exponent in (0..<exponent).reduce(1.0) { value, _ in value * 10 } }

    /// A whole number of at least 1 (`16.0` and `1e2` count); past 2^63-1 is out of range, a
    /// negative, zero, fractional or non-number value the wrong type.
    private static func positiveWhole(_ member: JSONScanner.Member, key: RequestKey, view: JSONView) -> Result<Int, GatewayError> {
        switch view.wholeNumber(member) {
        case .value(let value) where value >= 1: return .success(value)
        case .outOfRange where view.bytes[member.valueRange.lowerBound] != UInt8(ascii: "-"):
            return .failure(.valueTooLarge(param: key, max: Int.max))
        default: return .failure(.invalidType(param: key, expected: .positiveInteger))
        }
    }

    /// `include_usage` inside `stream_options`, and its value's range (relative to `bytes`).
    private static func includeUsage(in bytes: UnsafeRawBufferPointer) -> Result<(Bool, Range<Int>?), GatewayError> {
        let view = JSONView(bytes)
        var scanner = JSONScanner(bytes)
        var found: JSONScanner.Member?
        var duplicated = false
        do {
            _ = try scanner.scanTopLevelObject { (member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                guard view.key(member, equals: "include_usage") else { return }
                if found != nil { duplicated = true }
                found = member
            }
        } catch {
            return .failure(.malformedJSON(error))
        }
        if duplicated { return .failure(.duplicateKey(.streamOptionsIncludeUsage)) }
        guard let found else { return .success((false, nil)) }
        switch found.kind {
        case .bool(let value): return .success((value, found.valueRange))
        case .null: return .success((false, found.valueRange))
        default: return .failure(.invalidType(param: .streamOptionsIncludeUsage, expected: .boolean))
        }
    }

    /// The top-level key the gateway acts on that `range` names, if any: candidates picked by
    /// the key's length, then compared on their bytes (escapes decoded when the key has any).
    private static func classify(_ range: Range<Int>, hasEscapes: Bool, view: JSONView) -> RequestKey? {
        if hasEscapes {
            for key in RequestKey.topLevel where view.key(range, hasEscapes: true, equals: key.name) { return key }
            return nil
        }
        @inline(__always) func match(_ key: RequestKey) -> RequestKey? {
            view.key(range, hasEscapes: false, equals: key.name) ? key : nil
        }
        switch range.count {
        case 1: return match(.n)
        case 4: return match(.user)
        case 5: return match(.model) ?? match(.input) ?? match(.topP)
        case 6: return match(.stream) ?? match(.prompt)
        case 8: return match(.messages)
        case 10: return match(.maxTokens)
        case 11: return match(.temperature)
        case 14: return match(.streamOptions)
        case 21: return match(.maxCompletionTokens)
        default: return nil
        }
    }
}
