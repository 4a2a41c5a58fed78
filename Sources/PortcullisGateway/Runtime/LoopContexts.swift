import Logging
import NIOCore
import PortcullisConfig
import PortcullisCore

/// One ``LoopContext`` per event loop of the group, looked up once per connection.
final class LoopContexts: Sendable {
    private let contexts: [ObjectIdentifier: NIOLoopBoundBox<LoopContext>]

    init(group: any EventLoopGroup, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogSink, logger: Logger) {
        var contexts: [ObjectIdentifier: NIOLoopBoundBox<LoopContext>] = [:]
        for loop in group.makeIterator() {
            contexts[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(
                LoopContext(
                    eventLoop: loop, store: store, services: services,
                    accessLog: AccessLogWriter(sink: accessLog, eventLoop: loop), logger: logger),
                eventLoop: loop)
        }
        self.contexts = contexts
    }

    /// The context of the loop the caller runs on.
    func current(_ eventLoop: any EventLoop) -> LoopContext {
        self.contexts[ObjectIdentifier(eventLoop)]!.value
    }

    func all() -> [NIOLoopBoundBox<LoopContext>] { Array(self.contexts.values) }

    /// Runs `body` on every loop with its context and collects the results.
    func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopContext) -> T) async -> [T] {
        var results: [T] = []
        for box in self.all() {
            if let value = try? await box.eventLoop.submit({ body(box.value) }).get() { results.append(value) }
        }
        return results
    }
}
