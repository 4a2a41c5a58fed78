import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// Flushes every loop's access-log buffer once everything before it in the group has stopped
/// (it is first in the group, so it stops last: after the drain, nothing is left unwritten).
struct AccessLogService: Service {
    let server: GatewayServer

    func run() async {
        try? await gracefulShutdown()
        await self.server.flushAccessLogs()
    }
}
