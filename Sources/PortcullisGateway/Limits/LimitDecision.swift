/// What one limit check came to: the `decision` label of `portcullis_limit_decisions_total`.
enum LimitDecision: String, CaseIterable {
    case admitted
    case refused
    /// A shadow limit that would have refused (the request went on).
    case shadowRefused = "shadow_refused"
    /// A hard ceiling cut a stream off mid-way (its quota ran out as it went on).
    case cut

    @inline(__always)
    var ordinal: Int {
        switch self {
        case .admitted: 0
        case .refused: 1
        case .shadowRefused: 2
        case .cut: 3
        }
    }
}
