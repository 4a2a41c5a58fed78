/// Passive outlier detection (`outlierDetection:` on a backend): an endpoint that fails
/// `consecutiveFailures` times in a row (a 5xx answer, a failed or timed-out connect) leaves
/// the rotation for `baseEjection` × the number of times it was ejected, up to `maxEjection`.
/// At most `maxEjectedPercent` of a backend's endpoints are out at once (rounded down, so with
/// the default a one-endpoint backend never ejects; set 100 to let it, and its fallbacks serve).
public struct OutlierDetectionSpec: Sendable, Equatable {
    public var consecutiveFailures = 5
    public var baseEjectionNanos: Int64 = 30_000_000_000
    public var maxEjectionNanos: Int64 = 300_000_000_000
    public var maxEjectedPercent = 50
    /// `outlierDetection: off`.
    public var enabled = true

    public init() {}
}
