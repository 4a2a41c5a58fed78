import NIOCore
import NIOEmbedded
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

@testable import PortcullisGateway

/// Exchanges and loop contexts without a channel or a socket: a snapshot compiled from a few
/// lines of YAML, a loop context on an `EmbeddedEventLoop` (its virtual clock drives the
/// request path's), and an exchange built from a head and a body, for stage and shell tests.
enum ExchangeFixture {
    static let listeners = "listeners: [{ name: main, address: 127.0.0.1:0 }]"
    static let base = """
        accessLog: { destination: "off" }
        backends:
          b: { endpoints: ["http://127.0.0.1:9", "http://127.0.0.1:10"] }
        """

    static func config(_ yaml: String) throws -> ConfigSnapshot {
        try ConfigLoader(environment: [:]).load(yaml: yaml)
    }

    /// The standard pipeline for `base + yaml` (with one plain listener unless `yaml` has its
    /// own), or `stages` instead of it.
    static func snapshot(_ yaml: String = "", stages: [any Stage]? = nil) throws -> GatewaySnapshot {
        let listeners = yaml.contains("listeners:") ? "" : Self.listeners
        // A config with its own backends replaces the fixture's.
        let base = yaml.hasPrefix("backends:") || yaml.contains("\nbackends:") ? #"accessLog: { destination: "off" }"# : Self.base
        let config = try Self.config(listeners + "\n" + base + "\n" + yaml)
        let standard = GatewaySnapshot.build(config)
        guard let stages else { return standard }
        return GatewaySnapshot(config: config, pipeline: Pipeline(stages), backendSlots: standard.backendSlots, series: MetricSeries())
    }

    static func loop(_ snapshot: GatewaySnapshot, eventLoop: EmbeddedEventLoop, probe: (any LedgerObligation & Sendable)? = nil)
        throws -> LoopContext
    {
        let sink = try AccessLogSink(destination: "off")
        return LoopContext(
            eventLoop: eventLoop, store: SnapshotStore(snapshot), services: GatewayServices(ledgerProbe: probe),
            accessLog: AccessLogWriter(sink: sink, eventLoop: eventLoop), clock: { eventLoop.now })
    }

    static func exchange(
        _ snapshot: GatewaySnapshot, method: HTTPMethod = .POST, uri: String = "/v1/chat/completions",
        headers: [(String, String)] = [], body: String? = nil, listener: String = "main", loop: LoopContext? = nil,
        certificate: ClientCertificateIdentity? = nil
    ) throws -> Exchange {
        let loop = try loop ?? Self.loop(snapshot, eventLoop: EmbeddedEventLoop())
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders([("host", "gateway.test")] + headers))
        let connection = ConnectionState(clientAddress: "127.0.0.1", isTLS: false, isHTTP2: false, listenerName: listener)
        connection.setClientCertificate(certificate)
        var target = RequestTarget.unreadable
        var endpoint = EndpointKind.none
        var route: Route?
        switch RequestHeadCheck.check(head, isHTTP2: false, config: snapshot.config) {
        case .accepted(let facts), .refused(_, let facts):
            target = facts.target
            endpoint = facts.endpoint
            route = facts.route
        }
        let exchange = Exchange(
            snapshot: snapshot, head: head, target: target, endpoint: endpoint, requestID: "test", receivedAt: loop.now(),
            connection: connection, loop: loop, route: route)
        if let body { exchange.body = ByteBuffer(string: body) }
        return exchange
    }
}

extension ExchangeFixture {
    /// Runs the snapshot's whole pipeline on `exchange`: head stages, then, if they passed, body stages.
    static func runPipeline(_ snapshot: GatewaySnapshot, on exchange: Exchange) -> StageRunner.Result {
        let head = StageRunner.run(snapshot.pipeline.stages(.head), from: 0, on: exchange)
        guard case .passed = head else { return head }
        return StageRunner.run(snapshot.pipeline.stages(.body), from: 0, on: exchange)
    }
}

extension StageResult {
    /// The refusal, if the stage refused.
    var refusal: GatewayError? {
        if case .refuse(let error) = self { return error }
        return nil
    }

    var proceeded: Bool {
        if case .proceed = self { return true }
        return false
    }
}
