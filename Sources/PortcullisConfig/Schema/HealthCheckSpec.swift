/// An active health check (`healthCheck:` on a backend): every `interval`, each endpoint gets
/// `GET path`; a 2xx within `timeout` is a pass. `unhealthyThreshold` failures in a row take an
/// endpoint out of the rotation, `healthyThreshold` passes in a row bring it back. Endpoints
/// start healthy (a new endpoint is not kept from traffic until its first checks).
public struct HealthCheckSpec: Sendable, Equatable {
    public var path = "/health"
    public var intervalNanos: Int64 = 5_000_000_000
    public var timeoutNanos: Int64 = 1_000_000_000
    public var healthyThreshold = 2
    public var unhealthyThreshold = 3

    public init() {}
}
