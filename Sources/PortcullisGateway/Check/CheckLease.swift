import PortcullisCore

/// The limit stage's obligation for an ext_authz check: the check ends when Envoy has its
/// answer, long before the request it allowed does. An allowed check hands its ticket (slots
/// and reservations) to ``CheckLeases``, which settles it when the request is reported or its
/// lease runs out; a check that ended any other way settles the ticket at once, like a
/// proxied request would.
final class CheckLease: LedgerObligation {
    let ticket: LimitTicket
    let leases: CheckLeases

    init(ticket: LimitTicket, leases: CheckLeases) {
        self.ticket = ticket
        self.leases = leases
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        if outcome == .completed && exchange.forwardedAt != nil {
            self.leases.hold(self.ticket, for: exchange)
        } else {
            self.ticket.settle(exchange, outcome: outcome)
        }
    }
}
