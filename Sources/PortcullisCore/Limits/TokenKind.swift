/// Which tokens a token quota counts (`limits.tokenType`): the prompt (`input`), the
/// completion (`output`) or both (`total`, the default), as the backend's `usage` reports them.
public enum TokenKind: String, Sendable, CaseIterable {
    case total
    case input
    case output

    /// The part of a reservation (estimated prompt, most the completion may be) this kind holds.
    public func reserved(prompt: Int, completion: Int) -> Int {
        switch self {
        case .total: min(prompt + completion, Usage.maxCount)
        case .input: prompt
        case .output: completion
        }
    }

    /// The part of a backend's usage this kind counts.
    public func used(_ usage: Usage) -> Int {
        switch self {
        case .total: usage.totalTokens
        case .input: usage.promptTokens
        case .output: usage.completionTokens
        }
    }
}
