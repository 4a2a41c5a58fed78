import Atomics
import NIOConcurrencyHelpers
import NIOCore
import PortcullisCore

/// What ext_authz checks hold for the requests they allowed: each one's ``LimitTicket``
/// (concurrency slots, token and budget reservations), by request id, until one of two things
/// happens, whichever comes first:
/// - a usage report (``report(requestID:usage:)``, `POST /authz/report` on the admin
///   listener) says the request ended, with the usage its backend reported or none: the
///   ticket settles to that usage, exactly as a proxied request's would;
/// - the lease runs out (`authz.leaseTimeout`): the ticket settles as a request forwarded
///   without reported usage does, charged its whole reservation, and its slots come back.
///
/// So nothing leaks when reports never come: a slot is held at most the lease time, and a
/// quota is never charged less than it could have been spent. The table is bounded by
/// `authz.maxLeases`: a check that would need a lease when it is full is refused
/// (``GatewayError/leasesExhausted``, see ``isFull``); one that finds it full in the moment
/// between that test and its hold settles at once (its whole reservation; its slot is not
/// held) and is counted as an overflow.
///
/// A lease never displaces another: the router reports by the request id the check set
/// upstream, which a client can choose (Envoy keeps an internal client's `x-request-id`), so a
/// check whose id is already held when it starts is given a fresh one (``CheckRun``), and a
/// hold that still finds its id taken (two checks with one id in flight at once) is kept under
/// a private key that only expiry settles: it displaces nothing, but a report for that id
/// then settles the first lease (Envoy's `use_remote_address` keeps outside clients from
/// choosing ids). Each lease lives on its exchange's event loop, as a copy that keeps what
/// settling needs and not the client's headers (``Exchange/leaseCopy()``); the table only maps
/// ids to them.
public final class CheckLeases: Sendable {
    private final class Held {
        let ticket: LimitTicket
        let exchange: Exchange
        var timer: Scheduled<Void>?

        init(ticket: LimitTicket, exchange: Exchange) {
            self.ticket = ticket
            self.exchange = exchange
        }
    }

    private let table = NIOLockedValueBox<[String: NIOLoopBound<Held>]>([:])
    let leaseNanos: Int64
    let maxLeases: Int
    private let reported = ManagedAtomic<Int>(0)
    private let expired = ManagedAtomic<Int>(0)
    private let overflowed = ManagedAtomic<Int>(0)
    private let serial = ManagedAtomic<Int>(0)

    public init(leaseNanos: Int64, maxLeases: Int) {
        self.leaseNanos = leaseNanos
        self.maxLeases = maxLeases
    }

    /// Leases held now.
    public var count: Int { self.table.withLockedValue { $0.count } }
    /// Leases settled by a report, by expiry, and at once for want of room.
    public var settledCounts: (reported: Int, expired: Int, overflowed: Int) {
        (self.reported.load(ordering: .relaxed), self.expired.load(ordering: .relaxed), self.overflowed.load(ordering: .relaxed))
    }

    /// Whether no lease can be added now.
    var isFull: Bool { self.table.withLockedValue { $0.count >= self.maxLeases } }

    /// Whether a lease is held under `requestID`.
    func holds(_ requestID: String) -> Bool { self.table.withLockedValue { $0[requestID] != nil } }

    /// Holds `ticket` for the allowed check `exchange` (on the exchange's loop).
    func hold(_ ticket: LimitTicket, for exchange: Exchange) {
        let loop = exchange.eventLoop
        let held = Held(ticket: ticket, exchange: exchange.leaseCopy())
        let bound = NIOLoopBound(held, eventLoop: loop)
        let serial = self.serial.wrappingIncrementThenLoad(ordering: .relaxed)
        let key = self.table.withLockedValue { table -> String? in
            guard table.count < self.maxLeases else { return nil }
            // Taken by a check at the same moment: kept where no report can reach it.
            let key = table[exchange.requestID] == nil ? exchange.requestID : "\u{0}\(serial)"
            table[key] = bound
            return key
        }
        guard let key else {
            self.overflowed.wrappingIncrement(ordering: .relaxed)
            ticket.settle(held.exchange, outcome: .completed)
            return
        }
        held.timer = loop.assumeIsolated().scheduleTask(in: .nanoseconds(self.leaseNanos)) { [self] in
            let current = self.table.withLockedValue { table -> Bool in
                guard let found = table[key], found.eventLoop === loop, found.value === held else { return false }
                table[key] = nil
                return true
            }
            if current { self.finish(held, usage: nil, counter: self.expired) }
        }
    }

    /// Settles the lease of `requestID` with `usage` (nil: the request ended without reported
    /// usage). Returns whether a lease was held under that id.
    public func report(requestID: String, usage: Usage?) -> Bool {
        guard let bound = self.table.withLockedValue({ $0.removeValue(forKey: requestID) }) else { return false }
        Self.onLoop(bound) { self.finish($0, usage: usage, counter: self.reported) }
        return true
    }

    private static func onLoop(_ bound: NIOLoopBound<Held>, _ body: @escaping @Sendable (Held) -> Void) {
        let loop = bound.eventLoop
        if loop.inEventLoop {
            body(bound.value)
        } else {
            loop.execute { body(bound.value) }
        }
    }

    private func finish(_ held: Held, usage: Usage?, counter: ManagedAtomic<Int>) {
        held.timer?.cancel()
        held.timer = nil
        if let usage {
            held.exchange.usage = usage
            held.exchange.loop.metrics.countReportedUsage(held.exchange, usage)  // the check was counted without it
        }
        counter.wrappingIncrement(ordering: .relaxed)
        held.ticket.settle(held.exchange, outcome: .completed)
    }
}
