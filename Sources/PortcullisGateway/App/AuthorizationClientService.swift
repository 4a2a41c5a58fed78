import AsyncHTTPClient
import ServiceLifecycle

/// The HTTP client external authorization checks go through (one per process, on the
/// gateway's event loops, kept across reloads); shut down after the listeners have drained.
struct AuthorizationClientService: Service {
    let client: HTTPClient

    func run() async {
        try? await gracefulShutdown()
        try? await self.client.shutdown()
    }
}
