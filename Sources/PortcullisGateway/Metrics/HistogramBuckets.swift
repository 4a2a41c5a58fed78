/// The upper bounds of a histogram's buckets, in nanoseconds, and where a value falls.
///
/// Counts are kept per bucket (not cumulative) in a slice of a per-loop `[Int]`:
/// `bounds.count + 1` counts (the last is `+Inf`), then the sum in nanoseconds, so one
/// observation is two array increments. The exposition makes them cumulative.
struct HistogramBuckets: Sendable {
    /// Upper bounds in nanoseconds, ascending.
    let bounds: [Int]
    /// Upper bounds as the exposition prints them (`le`), in seconds.
    let labels: [String]

    init(seconds: [Double]) {
        self.bounds = seconds.map { Int(($0 * 1e9).rounded()) }
        self.labels = seconds.map { String($0) }
    }

    /// Counts, then the sum.
    var stride: Int { self.bounds.count + 2 }

    @inline(__always)
    func bucket(_ nanoseconds: Int) -> Int {
        var i = 0
        while i < self.bounds.count && nanoseconds > self.bounds[i] { i += 1 }
        return i
    }

    /// Adds one observation to the histogram that starts at `base` in `counts`.
    @inline(__always)
    func observe(_ nanoseconds: Int, into counts: inout [Int], at base: Int) {
        counts[base + self.bucket(nanoseconds)] += 1
        counts[base + self.bounds.count + 1] &+= nanoseconds
    }

    /// The OpenTelemetry GenAI semantic conventions' advice for `gen_ai.server.request.duration`
    /// (also used for upstream request durations).
    static let requestDuration = HistogramBuckets(seconds: [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ])

    /// The GenAI conventions' advice for `gen_ai.server.time_to_first_token`.
    static let timeToFirstToken = HistogramBuckets(seconds: [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ])
}
