import Atomics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import ServiceLifecycle
import UnixSignals

/// The one place reloads happen, as a `Service`: every trigger (SIGHUP, `POST /reload`, a
/// change of the config file) goes through one queue and is applied one at a time, in the
/// reloader's own task, never on a data-plane event loop. A request waiting for an outcome
/// gets the outcome of a reload that started after it asked.
final class ConfigReloader: Service, Sendable {
    private enum Trigger: Sendable { case signal, fileChanged, request }

    private let triggers: AsyncStream<Trigger>
    private let continuation: AsyncStream<Trigger>.Continuation
    private let waiting = NIOLockedValueBox<[EventLoopPromise<ReloadOutcome>]>([])
    private let apply: @Sendable () async -> ReloadOutcome
    private let watchedFile: String?
    private let watchInterval: TimeAmount
    /// SIGHUP, trapped from start-up on (see ``GatewayRuntime/start``), so one that arrives
    /// before this service runs is queued instead of ending the process.
    private let sighup: UnixSignalsSequence?
    private let logger: Logger
    let succeeded = ManagedAtomic<Int>(0)
    let failed = ManagedAtomic<Int>(0)

    init(
        watchedFile: String?, watchInterval: TimeAmount, sighup: UnixSignalsSequence?, logger: Logger,
        apply: @escaping @Sendable () async -> ReloadOutcome
    ) {
        (self.triggers, self.continuation) = AsyncStream.makeStream(of: Trigger.self)
        self.watchedFile = watchedFile
        self.watchInterval = watchInterval
        self.sighup = sighup
        self.logger = logger
        self.apply = apply
    }

    /// Queues a reload; the future completes (on `eventLoop`) with its outcome.
    func request(on eventLoop: any EventLoop) -> EventLoopFuture<ReloadOutcome> {
        let promise = eventLoop.makePromise(of: ReloadOutcome.self)
        self.waiting.withLockedValue { $0.append(promise) }
        if case .terminated = self.continuation.yield(.request) {
            self.failWaiting()
        }
        return promise.futureResult
    }

    /// Queues a reload without waiting for it (SIGHUP, a file change).
    func trigger() {
        self.continuation.yield(.signal)
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let signals = self.sighup {
                group.addTask {
                    for await _ in signals.cancelOnGracefulShutdown() {
                        self.logger.info("SIGHUP: reloading config")
                        self.continuation.yield(.signal)
                    }
                }
            }
            if let file = self.watchedFile {
                group.addTask { await self.watch(file) }
            }
            group.addTask {
                for await trigger in self.triggers.cancelOnGracefulShutdown() {
                    // Requests already waiting get this reload's outcome; later ones the next.
                    let waiters = self.waiting.withLockedValue { waiting in
                        defer { waiting.removeAll() }
                        return waiting
                    }
                    if trigger == .fileChanged { self.logger.info("config file changed: reloading") }
                    let outcome = await self.apply()
                    switch outcome {
                    case .reloaded: self.succeeded.wrappingIncrement(ordering: .relaxed)
                    case .refused: self.failed.wrappingIncrement(ordering: .relaxed)
                    }
                    for waiter in waiters { waiter.succeed(outcome) }
                }
            }
            await group.waitForAll()
        }
        self.continuation.finish()
        self.failWaiting()
    }

    private func failWaiting() {
        let waiters = self.waiting.withLockedValue { waiting in
            defer { waiting.removeAll() }
            return waiting
        }
        let outcome = ReloadOutcome.refused([Diagnostic(path: "$", line: nil, message: "the gateway is shutting down")])
        for waiter in waiters { waiter.succeed(outcome) }
    }

    /// Polls the config file's identity (modification time, size, inode) and queues a reload
    /// when it changes: editors that write in place and ones that rename both show up.
    private func watch(_ path: String) async {
        await cancelWhenGracefulShutdown {
            var last = FileStamp(path)
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(self.watchInterval.nanoseconds))
                if Task.isCancelled { break }
                let now = FileStamp(path)
                if now != last {
                    last = now
                    self.continuation.yield(.fileChanged)
                }
            }
        }
    }
}
