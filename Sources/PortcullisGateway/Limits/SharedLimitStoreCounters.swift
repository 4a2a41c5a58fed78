import Atomics
import PortcullisConfig
import PortcullisRedis

/// What the shared store's failures came to, for `/metrics`: errors by kind, and fallbacks by
/// the mode a limit fell back to.
final class SharedLimitStoreCounters: Sendable {
    enum ErrorKind: String, CaseIterable {
        /// No connection was up.
        case unavailable
        /// No answer within the store timeout.
        case timeout
        /// The connection closed or broke while waiting.
        case closed
        /// An error reply, or an answer of the wrong shape.
        case reply
    }

    private let errors = ErrorKind.allCases.map { _ in ManagedAtomic<Int>(0) }
    private let fallbacks = StoreFailureMode.allCases.map { _ in ManagedAtomic<Int>(0) }

    func count(_ error: any Error) {
        let kind: ErrorKind =
            switch error as? RedisError {
            case .unavailable?: .unavailable
            case .timeout?: .timeout
            case .connectionClosed?: .closed
            default: .reply
            }
        self.count(kind)
    }

    func count(_ kind: ErrorKind) {
        self.errors[ErrorKind.allCases.firstIndex(of: kind)!].wrappingIncrement(ordering: .relaxed)
    }

    func countFallback(_ mode: StoreFailureMode) {
        self.fallbacks[StoreFailureMode.allCases.firstIndex(of: mode)!].wrappingIncrement(ordering: .relaxed)
    }

    var errorCounts: [(ErrorKind, Int)] { ErrorKind.allCases.enumerated().map { ($1, self.errors[$0].load(ordering: .relaxed)) } }
    var fallbackCounts: [(StoreFailureMode, Int)] {
        StoreFailureMode.allCases.enumerated().map { ($1, self.fallbacks[$0].load(ordering: .relaxed)) }
    }
}
