import PortcullisCore

/// An obligation given as a closure, for stages whose end-of-request work is per request.
public final class ClosureObligation: LedgerObligation {
    private let body: (Exchange, Outcome) -> Void

    public init(_ body: @escaping (Exchange, Outcome) -> Void) {
        self.body = body
    }

    public func settle(_ exchange: Exchange, outcome: Outcome) {
        self.body(exchange, outcome)
    }
}
