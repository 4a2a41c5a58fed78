import NIOCore
import PortcullisCore

/// What a suspension resolves to: a decision, never another wait.
public enum SuspensionResult: Sendable, Equatable {
    case proceed
    case refuse(GatewayError)
}
