import NIOConcurrencyHelpers
import NIOCore

/// Every open client connection, so a graceful stop can tell each to quiesce, wait until they
/// are gone, and end the rest when the drain timeout passes. Touched once when a connection is
/// accepted and once when it closes, never per request.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.state.withLockedValue { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { _ in
            let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.channels[id] = nil
                guard state.channels.isEmpty else { return [] }
                defer { state.emptyWaiters.removeAll() }
                return state.emptyWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    var count: Int { self.state.withLockedValue { $0.channels.count } }

    var all: [any Channel] { self.state.withLockedValue { Array($0.channels.values) } }

    /// Returns once no connection is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = self.state.withLockedValue { state -> Bool in
                if state.channels.isEmpty { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Resumes any waiter (the drain timeout passed; the waiters move on to forcing).
    func releaseWaiters() {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            defer { state.emptyWaiters.removeAll() }
            return state.emptyWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
