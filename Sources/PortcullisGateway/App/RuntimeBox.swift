import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import PortcullisHTTP
import PortcullisMock
import ServiceLifecycle
import UnixSignals

/// Lets the admin server reach the runtime that is created after it.
final class RuntimeBox: Sendable {
    private let box = NIOLockedValueBox<GatewayRuntime?>(nil)
    func set(_ runtime: GatewayRuntime) { self.box.withLockedValue { $0 = runtime } }
    var runtime: GatewayRuntime? { self.box.withLockedValue { $0 } }
}
