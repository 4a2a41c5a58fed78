import PortcullisConfig

/// A compiled config plus the stages built from it: everything a request pins when it starts.
public final class GatewaySnapshot: Sendable {
    public let config: ConfigSnapshot
    public let pipeline: Pipeline

    public init(config: ConfigSnapshot, pipeline: Pipeline) {
        self.config = config
        self.pipeline = pipeline
    }

    /// Builds the standard pipeline for `config`: authenticate (when any method is configured),
    /// inspect the body, route, check the route's authentication methods.
    static func build(
        _ config: ConfigSnapshot, providers: [String: JWTProvider] = [:],
        wallClock: @escaping @Sendable () -> Double = { Double(Exchange.wallClockMillis()) / 1000 }
    ) -> GatewaySnapshot {
        var stages: [any Stage] = []
        let routeMethods = config.source.routes.contains { $0.authentication.methods != nil }
        if !config.authentication.configured.isEmpty || config.listenerPolicies.values.contains(where: \.required) {
            stages.append(AuthenticationStage(config: config, providers: providers, wallClock: wallClock))
        }
        if routeMethods { stages.append(RouteAuthenticationStage(phase: .head)) }
        stages.append(RequestInspectionStage())
        stages.append(ModelRoutingStage())
        if routeMethods { stages.append(RouteAuthenticationStage(phase: .body)) }
        return GatewaySnapshot(config: config, pipeline: Pipeline(stages))
    }
}
