import Atomics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import ServiceLifecycle
import UnixSignals

/// What a reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new config is serving (from snapshot `generation` on).
    case reloaded(generation: UInt64)
    /// The config was refused; the previous one keeps serving.
    case refused([Diagnostic])

    public var succeeded: Bool {
        if case .reloaded = self { return true }
        return false
    }
}
