import Testing

@testable import PortcullisGateway

/// Choosing an endpoint without IO: the power of two choices takes the less loaded of two
/// distinct endpoints, skips those out of the rotation, and spreads evenly when loads are equal;
/// the scan wraps. And the loop's generator draws evenly.
@Suite struct EndpointPickerTests {
    @Test func theLessLoadedOfTwoDistinctDrawsWins() {
        let load = [5, 0, 3, 9]
        var seen = Set<Int>()
        var random = LoopRandom(seed: 42)
        for _ in 0..<2000 {
            let roll = random.next()
            let first = Int((roll & 0xFFFF_FFFF) % 4)
            var second = Int((roll >> 32) % 3)
            if second >= first { second += 1 }
            #expect(first != second)
            let picked = EndpointPicker.leastRequest(count: 4, roll: roll, isAvailable: { _ in true }, load: { load[$0] })
            #expect(picked == (load[second] < load[first] ? second : first))
            seen.insert(picked!)
        }
        // The busiest endpoint only loses: it is never the lesser of two.
        #expect(seen == [0, 1, 2])
    }

    @Test func endpointsOutOfTheRotationAreNeverPicked() {
        var random = LoopRandom(seed: 7)
        for _ in 0..<1000 {
            let picked = EndpointPicker.leastRequest(
                count: 5, roll: random.next(), isAvailable: { $0 == 3 }, load: { $0 == 3 ? 100 : 0 })
            #expect(picked == 3)
        }
        #expect(EndpointPicker.leastRequest(count: 3, roll: 12345, isAvailable: { _ in false }, load: { _ in 0 }) == nil)
        // Two of five out of the rotation, side by side: the three left share evenly, and the
        // one after the gap gets no more than the others.
        var counts = [0, 0, 0, 0, 0]
        for _ in 0..<30_000 {
            counts[EndpointPicker.leastRequest(count: 5, roll: random.next(), isAvailable: { $0 != 1 && $0 != 2 }, load: { _ in 1 })!] += 1
        }
        #expect(counts[1] == 0 && counts[2] == 0)
        #expect([counts[0], counts[3], counts[4]].allSatisfy { abs($0 - 10_000) < 600 }, "\(counts)")
        #expect(EndpointPicker.scan(from: 4, count: 5, isAvailable: { $0 == 1 }) == 1)
        #expect(EndpointPicker.scan(from: 2, count: 3, isAvailable: { _ in true }) == 2)
        #expect(EndpointPicker.scan(from: 0, count: 3, isAvailable: { _ in false }) == nil)
    }

    @Test func equalLoadsSpreadEvenly() {
        var random = LoopRandom(seed: 2026)
        var counts = [0, 0, 0]
        for _ in 0..<30_000 {
            counts[EndpointPicker.leastRequest(count: 3, roll: random.next(), isAvailable: { _ in true }, load: { _ in 1 })!] += 1
        }
        // 10,000 each expected; the standard deviation is about 82.
        #expect(counts.allSatisfy { abs($0 - 10_000) < 600 })
    }
}
