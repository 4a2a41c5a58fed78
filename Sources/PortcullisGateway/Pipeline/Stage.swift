import NIOCore
import PortcullisCore

/// One decision on the request path. Built from a snapshot; holds no per-request state.
///
/// Synchronous by default, because every stage in the data path so far decides from memory and
/// a task hop per stage would cost more than the decision. A stage that must wait (a JWKS
/// refetch; later an external policy call or a shared limit store) returns `.suspend` with a
/// bounded ``Suspension``; the pipeline resumes after it.
public protocol Stage: Sendable {
    var name: String { get }
    /// Head stages run before the body is read (so a refused caller's body is never buffered);
    /// body stages run once the whole body is in.
    var phase: StagePhase { get }
    func evaluate(_ exchange: Exchange) -> StageResult
}

public enum StagePhase: String, Sendable {
    case head, body
}
