/// Where rate, quota and concurrency counters live (`limitStore:`). Without it, in memory, for
/// one process. With `redis:`, shared by every replica that names the same server.
public struct LimitStoreSpec: Sendable, Equatable {
    public var redis: RedisStoreSpec?

    public init() {}
}

/// What a limit does while its shared store cannot answer (unreachable, or no answer within
/// the store's `timeout`).
public enum StoreFailureMode: String, Sendable, CaseIterable {
    /// Count in this process instead, against the limit divided by the store's `replicas`.
    case local
    /// Admit, uncounted.
    case open
    /// Refuse (503).
    case closed
}

/// A Redis server shared by the gateway's replicas.
public struct RedisStoreSpec: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int?
    /// Pooled connections per process (each pipelines).
    public var connections = 2
    /// The longest a request waits for the store before its limits fall back.
    public var timeoutNanos: Int64 = 25_000_000
    /// How long a concurrency slot outlives a replica that stopped renewing it (died).
    public var leaseTTLNanos: Int64 = 30_000_000_000
    /// Replicas sharing the store: a limit falling back to `local` allows its value divided by this.
    public var replicas = 1
    public var onFailure = StoreFailureMode.local
    /// Prefix of every key the gateway writes.
    public var keyPrefix = "portcullis"

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
