import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// Keeps every JWT provider's keys fresh (one refresh loop per provider, including providers a
/// reload adds) until the stop.
struct JWKSRefreshService: Service {
    let registry: JWTProviderRegistry

    func run() async {
        await cancelWhenGracefulShutdown {
            await self.registry.run()
        }
        await self.registry.shutdown()
    }
}
