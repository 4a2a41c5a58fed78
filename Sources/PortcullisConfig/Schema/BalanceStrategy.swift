/// How a backend spreads requests over its endpoints (`balance:`).
public enum BalanceStrategy: String, Sendable, CaseIterable {
    /// Each event loop takes the endpoints in turn (the default).
    case roundRobin
    /// The power of two choices: of two endpoints drawn at random, the one with fewer requests
    /// in flight (counted across all loops). It steers away from a slow endpoint without the
    /// herd a strict least-request scan makes when every loop sees the same minimum.
    case leastRequest
}
