import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisHTTP

/// The admin listener (loopback by default): health, readiness, the loaded routes, and reload.
/// Separate from the data listeners, so no data-plane path can reach it.
enum AdminServer {
    static func start(host: String, port: Int, group: any EventLoopGroup, runtime: RuntimeBox) async throws
        -> EmbeddedHTTPServer
    {
        try await EmbeddedHTTPServer.start(host: host, port: port, group: group, maxBody: 64 * 1024) { request, writer in
            switch (request.head.method, request.path) {
            case (.GET, "/healthz"):
                writer.respondJSON(#"{"status":"ok"}"#)
            case (.GET, "/readyz"):
                if let runtime = runtime.runtime, runtime.isReady {
                    writer.respondJSON(#"{"status":"ready"}"#)
                } else {
                    writer.respondJSON(status: .serviceUnavailable, #"{"status":"starting"}"#)
                }
            case (.GET, "/config"):
                guard let runtime = runtime.runtime else {
                    writer.respondJSON(status: .serviceUnavailable, #"{"status":"starting"}"#)
                    return
                }
                writer.respondJSON(Self.describe(runtime))
            case (.POST, "/reload"):
                guard let runtime = runtime.runtime else {
                    writer.respondJSON(status: .serviceUnavailable, #"{"status":"starting"}"#)
                    return
                }
                switch runtime.reload() {
                case .success:
                    writer.respondJSON(#"{"status":"reloaded"}"#)
                case .failure(let error):
                    let problems = error.diagnostics.map { JSONString.quoted($0.description) }.joined(separator: ",")
                    writer.respondJSON(status: .unprocessableEntity, #"{"status":"refused","problems":[\#(problems)]}"#)
                }
            default:
                writer.respondJSON(
                    status: .notFound,
                    #"{"error":{"message":"No admin endpoint at this path.","type":"invalid_request_error","param":null,"code":"not_found"}}"#)
            }
        }
    }

    /// Routes, backends and stages of the current snapshot. No secrets: only names, patterns and URLs.
    static func describe(_ runtime: GatewayRuntime) -> String {
        let snapshot = runtime.store.current
        let config = snapshot.config
        let routes = config.source.routes.map { route in
            let models = route.models.map { JSONString.quoted($0) }.joined(separator: ",")
            let prefix = route.pathPrefix.map { JSONString.quoted($0) } ?? "null"
            return #"{"name":\#(JSONString.quoted(route.name)),"models":[\#(models)],"pathPrefix":\#(prefix),"backend":\#(JSONString.quoted(route.backend))}"#
        }.joined(separator: ",")
        let backends = config.backends.map { backend in
            let endpoints = backend.endpoints.map { JSONString.quoted($0.description) }.joined(separator: ",")
            return #"{"name":\#(JSONString.quoted(backend.name)),"endpoints":[\#(endpoints)]}"#
        }.joined(separator: ",")
        let stages = snapshot.pipeline.stageNames.map { JSONString.quoted($0) }.joined(separator: ",")
        return #"{"generation":\#(runtime.store.generation),"stages":[\#(stages)],"routes":[\#(routes)],"backends":[\#(backends)]}"#
    }
}
