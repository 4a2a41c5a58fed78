/// What a model's tokens cost (`prices:`), in micro-dollars (µUSD, a millionth of a US dollar)
/// per million tokens, so prices and budgets are whole numbers and arithmetic is exact.
public struct ModelPrice: Sendable, Equatable {
    /// µUSD per million prompt tokens (`input: 2.50` dollars per million is 2,500,000).
    public let inputPerMillion: Int64
    /// µUSD per million completion tokens.
    public let outputPerMillion: Int64

    public init(inputPerMillion: Int64, outputPerMillion: Int64) {
        self.inputPerMillion = max(inputPerMillion, 0)
        self.outputPerMillion = max(outputPerMillion, 0)
    }

    /// The cost of `prompt` and `completion` tokens, in µUSD, rounded up (a request is never
    /// charged less than it cost), saturating at ``Usage/maxCount``.
    public func cost(prompt: Int, completion: Int) -> Int {
        let total = Self.part(prompt, self.inputPerMillion) + Self.part(completion, self.outputPerMillion)
        return Int(min(total.rounded(.up), Double(Usage.maxCount)))
    }

    /// A usage's cost.
    public func cost(_ usage: Usage) -> Int {
        self.cost(prompt: usage.promptTokens, completion: usage.completionTokens)
    }

    /// Doubles: a token count (at most 2^40) times a price cannot overflow, and the rounding
    /// error of a double is far below one µUSD for any realistic count.
    private static func part(_ tokens: Int, _ perMillion: Int64) -> Double {
        Double(max(tokens, 0)) * Double(perMillion) / 1_000_000
    }

    /// `micros` µUSD as dollars for messages (`$0.0125`, `$25.00`).
    public static func dollars(_ micros: Int) -> String {
        let whole = micros / 1_000_000
        let fraction = micros % 1_000_000
        if fraction == 0 { return "$\(whole).00" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.count > 2 && digits.hasSuffix("0") { digits.removeLast() }
        return "$\(whole).\(digits)"
    }
}
