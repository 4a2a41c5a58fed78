import Testing

@testable import PortcullisGateway

@Suite("Metrics building blocks")
struct MetricsUnitTests {
    @Test func aValueFallsInTheFirstBucketWhoseBoundHoldsIt() {
        let buckets = HistogramBuckets(seconds: [0.01, 0.1, 1])
        #expect(buckets.bucket(0) == 0)
        #expect(buckets.bucket(10_000_000) == 0, "le is inclusive")
        #expect(buckets.bucket(10_000_001) == 1)
        #expect(buckets.bucket(1_000_000_000) == 2)
        #expect(buckets.bucket(5_000_000_000) == 3, "+Inf")
        var counts = [Int](repeating: 0, count: 2 + buckets.stride)
        buckets.observe(50_000_000, into: &counts, at: 2)
        buckets.observe(2_000_000_000, into: &counts, at: 2)
        #expect(counts == [0, 0, 0, 1, 0, 1, 2_050_000_000])
    }

    @Test func labelValuesAreEscapedForTheTextFormat() {
        #expect(MetricsExposition.escaped("plain-name_1") == "plain-name_1")
        #expect(MetricsExposition.escaped("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    }

    @Test func countsFromLoopsOfDifferentSizesAddUp() {
        var a = LoopMetrics.Counts()
        a.tenants = [[1, 2], []]
        a.timings = [1]
        a.inFlight = 2
        var b = LoopMetrics.Counts()
        b.tenants = [[1], [0, 0, 3], [4]]
        b.timings = [1, 5]
        b.refusals[3] = 7
        b.inFlight = -1
        a.add(b)
        #expect(a.tenants == [[2, 2], [0, 0, 3], [4]])
        #expect(a.timings == [2, 5])
        #expect(a.refusals[3] == 7)
        #expect(a.inFlight == 1)
    }

    @Test func seriesIdsAreStableAndNamesRoundTrip() {
        let series = MetricSeries()
        let a = series.tenant("acme")
        let b = series.tenant("beta")
        #expect(series.tenant("acme") == a)
        #expect(a != b)
        #expect(series.slot(route: "r", model: "m") == series.slot(route: "r", model: "m"))
        #expect(series.names().tenants[b] == "beta")
    }
}
