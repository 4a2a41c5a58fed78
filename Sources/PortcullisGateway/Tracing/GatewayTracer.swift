import Logging
import OTel
import PortcullisConfig
import ServiceLifecycle
import Tracing

/// The process's OpenTelemetry tracer: swift-otel's tracing backend (OTLP over HTTP only, the
/// package's `OTLPHTTP` trait), built from `tracing:` when the config has one. Its batch
/// processor and exporter run as one `Service` of the runtime's group, stopped after the
/// listeners have drained, so the last requests' spans are exported.
///
/// Made once at start: a reload that changes `tracing:` is refused (it needs a restart), so
/// snapshots share this object and no span is ever handed to an exporter that was shut down.
public final class GatewayTracer: Sendable {
    let spec: TracingSpec
    let tracer: any Tracer
    let service: any Service

    init(spec: TracingSpec, logger: Logger) throws {
        var config = OTel.Configuration.default
        config.serviceName = spec.serviceName
        config.diagnosticLogger = .custom(logger)
        config.diagnosticLogLevel = .warning
        config.propagators = [.traceContext]
        config.logs.enabled = false
        config.metrics.enabled = false
        config.traces.enabled = true
        config.traces.exporter = .otlp
        config.traces.otlpExporter.endpoint = spec.endpoint
        config.traces.otlpExporter.protocol = spec.format == .json ? .httpJSON : .httpProtobuf
        config.traces.batchSpanProcessor.scheduleDelay = .nanoseconds(spec.exportIntervalNanos)
        config.traces.sampler =
            spec.sampleRatio >= 1 ? .parentBasedAlwaysOn : (.parentBasedTraceIDRatio(ratio: spec.sampleRatio) ?? .parentBasedAlwaysOn)
        let backend = try OTel.makeTracingBackend(configuration: config)
        self.spec = spec
        self.tracer = backend.factory
        self.service = backend.service
    }
}
