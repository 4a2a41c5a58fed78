/// One event loop's cheap source of randomness for balancing: a split and the power of two
/// choices draw from it on every request, where `SystemRandomNumberGenerator` would cost a
/// system call each time. SplitMix64 (Steele, Lea and Flood, 2014), seeded once from the
/// system: statistically sound for choosing endpoints, and never used for anything secret.
struct LoopRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.state = seed
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
