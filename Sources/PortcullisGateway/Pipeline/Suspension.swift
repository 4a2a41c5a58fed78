import NIOCore
import PortcullisCore

/// A bounded, cancellable wait of one stage: a future, a deadline, a cancel hook, and the
/// typed refusals used when the wait fails or runs out of time.
///
/// The lifecycle state machine owns the deadline: when it passes, or when the client leaves
/// first, the cancel hook runs and the late result is ignored. A failed future is never a
/// silent 500: it becomes ``failureError``, logged with its reason like every refusal. The
/// result type cannot suspend again, so a wait always ends in a decision.
public struct Suspension {
    public let future: EventLoopFuture<SuspensionResult>
    public let deadline: NIODeadline
    /// Answered when the deadline passes first.
    public let timeoutError: GatewayError
    /// Answered when the future fails.
    public let failureError: GatewayError
    /// Called (on the exchange's loop) when the wait is abandoned: timed out or client gone.
    public let cancel: (@Sendable () -> Void)?

    public init(
        future: EventLoopFuture<SuspensionResult>, deadline: NIODeadline, stage: String,
        timeoutError: GatewayError? = nil, failureError: GatewayError? = nil, cancel: (@Sendable () -> Void)? = nil
    ) {
        self.future = future
        self.deadline = deadline
        self.timeoutError = timeoutError ?? .dependencyTimedOut(stage: stage)
        self.failureError = failureError ?? .dependencyFailed(stage: stage)
        self.cancel = cancel
    }
}
