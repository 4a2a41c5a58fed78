/// Which limit refused a request, and when it would fit: what a 429's message, `Retry-After`
/// and reason are computed from (``GatewayError/limitExceeded(_:)``).
public struct LimitRefusal: Sendable, Equatable {
    public let name: LimitName
    /// The top-level rule's name (nil: the caller's plan or tenant).
    public let rule: String?
    /// The configured amount (requests or tokens per window, or slots).
    public let limit: Int
    /// The units this request asked for (1 for a rate, its reservation for a quota).
    public let cost: Int
    /// Nanoseconds until it would fit (`Int64.max`: it never can, being larger than the limit).
    public let retryAfterNanos: Int64
    /// A hard ceiling cut a stream off: the refusal is the stream's final SSE event.
    public let midStream: Bool

    public init(name: LimitName, rule: String?, limit: Int, cost: Int, retryAfterNanos: Int64, midStream: Bool = false) {
        self.name = name
        self.rule = rule
        self.limit = limit
        self.cost = cost
        self.retryAfterNanos = retryAfterNanos
        self.midStream = midStream
    }

    /// Whole seconds for `Retry-After`, rounded up, at least 1 (nil: retrying cannot help).
    public var retryAfterSeconds: Int? {
        guard self.retryAfterNanos != .max else { return nil }
        return max(1, Int(self.retryAfterNanos / 1_000_000_000 + (self.retryAfterNanos % 1_000_000_000 > 0 ? 1 : 0)))
    }

    /// A wait as people read it: `45s`, `12m`, `3h 10m`.
    static func wait(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\((seconds + 59) / 60)m" }
        let minutes = (seconds + 59) / 60
        return "\(minutes / 60)h \(minutes % 60)m"
    }

    public var message: String {
        let source = self.rule.map { " (limit '\($0)')" } ?? ""
        if self.midStream {
            let amount = self.name.isBudget ? ModelPrice.dollars(self.limit) : String(self.limit)
            return "The response was cut off: it reached your \(self.name.phrase) limit of \(amount)\(source), held as a hard ceiling."
        }
        switch self.name {
        case .concurrency:
            return "Too many concurrent requests: at most \(self.limit) at once\(source). Retry when one has finished."
        case let name where name.isBudget:
            let limit = ModelPrice.dollars(self.limit)
            let cost = ModelPrice.dollars(self.cost)
            guard let seconds = self.retryAfterSeconds else {
                return "You exceeded your \(name.phrase)\(source): this request may cost up to \(cost), more than the whole budget of \(limit)."
            }
            return "You exceeded your \(name.phrase)\(source): budget \(limit), this request may cost up to \(cost). Try again in \(Self.wait(seconds))."
        case let name where name.isTokenQuota:
            guard let seconds = self.retryAfterSeconds else {
                return "This request needs about \(self.cost) tokens, more than the whole limit of \(self.limit) \(name.phrase)\(source)."
            }
            return "Rate limit reached for \(name.phrase)\(source): limit \(self.limit), this request needs about \(self.cost). Try again in \(seconds)s."
        default:
            let wait = self.retryAfterSeconds.map { " Try again in \($0)s." } ?? ""
            return "Rate limit reached for \(self.name.phrase)\(source): limit \(self.limit).\(wait)"
        }
    }
}
