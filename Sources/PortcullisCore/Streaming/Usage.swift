/// Token counts reported by a backend in an OpenAI `usage` object.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
    }

    /// The largest count believed (2^40, far beyond any context window): a backend's counts
    /// feed counters and quotas, so a negative or absurd value is clamped into `0...maxCount`
    /// rather than allowed to overflow a sum or make a counter go backwards.
    public static let maxCount = 1 << 40

    /// Parses a captured `usage` object. Missing counters are zero; `total_tokens` defaults to
    /// the sum. Counts are clamped into `0...maxCount`. Returns nil when the bytes are not a
    /// valid JSON object.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Usage? {
        let view = JSONView(bytes)
        var scanner = JSONScanner(bytes, maxDepth: 8)
        var prompt = 0
        var completion = 0
        var total: Int?
        do {
            let isObject = try scanner.scanTopLevelObject { (member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                if view.key(member, equals: "prompt_tokens") {
                    prompt = Self.clamped(view.integerValue(member) ?? 0)
                } else if view.key(member, equals: "completion_tokens") {
                    completion = Self.clamped(view.integerValue(member) ?? 0)
                } else if view.key(member, equals: "total_tokens") {
                    total = view.integerValue(member).map(Self.clamped)
                }
            }
            guard isObject else { return nil }
        } catch {
            return nil
        }
        return Usage(promptTokens: prompt, completionTokens: completion, totalTokens: total ?? prompt + completion)
    }

    @inline(__always)
    static func clamped(_ count: Int) -> Int { min(max(count, 0), Self.maxCount) }
}
