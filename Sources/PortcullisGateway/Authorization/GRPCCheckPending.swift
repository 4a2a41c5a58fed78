import NIOCore

/// A check on its way: its answer (never a failed future), and the hook that abandons it.
public struct GRPCCheckPending: Sendable {
    public let answer: EventLoopFuture<GRPCCheckAnswer>
    public let cancel: @Sendable () -> Void

    public init(answer: EventLoopFuture<GRPCCheckAnswer>, cancel: @escaping @Sendable () -> Void) {
        self.answer = answer
        self.cancel = cancel
    }
}
