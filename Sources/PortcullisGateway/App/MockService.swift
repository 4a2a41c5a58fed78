import Logging
import NIOCore
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle

/// The in-process mock backend of the quickstart; it stops after the listeners have drained,
/// so streams in flight to it finish.
struct MockService: Service {
    let mock: MockBackend

    func run() async {
        try? await gracefulShutdown()
        await self.mock.close()
    }
}
