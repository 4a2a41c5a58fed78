import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// The admin listener; it stays up while the data listeners drain, so `/readyz` can say so.
struct AdminService: Service {
    let admin: EmbeddedHTTPServer

    func run() async {
        try? await gracefulShutdown()
        await self.admin.close()
    }
}
