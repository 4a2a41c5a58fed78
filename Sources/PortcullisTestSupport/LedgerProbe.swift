import NIOConcurrencyHelpers
import PortcullisCore
import PortcullisGateway

/// A test hook registered with every exchange's ledger (through `GatewayServices`): it records
/// each settlement, so a test can check that every exchange settled, and how. (Settling twice
/// is impossible by construction: a ledger closed twice trips an assertion, and the tests run
/// debug builds.)
public final class LedgerProbe: LedgerObligation, Sendable {
    private struct State {
        var outcomes: [Outcome] = []
        var requestIDs: [String] = []
        var statuses: [Int] = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func settle(_ exchange: Exchange, outcome: Outcome) {
        let id = exchange.requestID
        let status = exchange.status
        self.state.withLockedValue { state in
            state.outcomes.append(outcome)
            state.requestIDs.append(id)
            state.statuses.append(status)
        }
    }

    /// Settlements so far.
    public var count: Int { self.state.withLockedValue { $0.outcomes.count } }
    public var statuses: [Int] { self.state.withLockedValue { $0.statuses } }
    public var outcomes: [Outcome] { self.state.withLockedValue { $0.outcomes } }
    public var requestIDs: [String] { self.state.withLockedValue { $0.requestIDs } }

    /// How many settled with each outcome label.
    public var byLabel: [String: Int] {
        self.state.withLockedValue { state in
            state.outcomes.reduce(into: [:]) { $0[$1.label, default: 0] += 1 }
        }
    }

    public func reset() {
        self.state.withLockedValue { $0 = State() }
    }
}
