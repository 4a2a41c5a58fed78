/// `authz:`: Portcullis as the policy engine behind an existing Envoy. A gRPC listener serving
/// `envoy.service.auth.v3.Authorization/Check`, which runs the gateway's own stages (identity,
/// tenant policy, validation, limits) on each `CheckRequest`, from the same snapshot.
///
/// Envoy never says how an allowed request ended, so what `Check` holds for it (concurrency
/// slots, token reservations) is a lease: settled by a usage report (`POST /authz/report` on the
/// admin listener, with the request id the answer set) or, when none comes, at `leaseTimeout`,
/// charged its whole reservation.
public struct AuthzServerSpec: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The data listener whose authentication policy applies to checks (nil: the first).
    public var listener: String?
    /// How long a check's slots and reservations are held without a report.
    public var leaseNanos: Int64 = 300_000_000_000
    /// Leases held at once; past it, a new lease settles at once (its whole reservation).
    public var maxLeases = 100_000
    public var location: SourceLocation

    public init(host: String, port: Int, location: SourceLocation) {
        self.host = host
        self.port = port
        self.location = location
    }
}
