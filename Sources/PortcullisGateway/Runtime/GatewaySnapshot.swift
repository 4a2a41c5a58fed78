import PortcullisConfig

/// A compiled config plus the stages built from it: everything a request pins when it starts.
public final class GatewaySnapshot: Sendable {
    public let config: ConfigSnapshot
    public let pipeline: Pipeline

    public init(config: ConfigSnapshot, pipeline: Pipeline) {
        self.config = config
        self.pipeline = pipeline
    }

    /// Builds the standard pipeline for `config`.
    public static func build(_ config: ConfigSnapshot) -> GatewaySnapshot {
        let stages: [any Stage] = [
            RequestInspectionStage(),
            ModelRoutingStage(),
        ]
        return GatewaySnapshot(config: config, pipeline: Pipeline(stages))
    }
}
