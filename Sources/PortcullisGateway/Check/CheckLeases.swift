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
/// quota is never charged less than it could have been spent. Past `authz.maxLeases` held at
/// once, a new lease settles at once (its whole reservation; its slot is not held), so the
/// table is bounded too. Each lease lives on its exchange's event loop; the table only maps
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

    /// Holds `ticket` for the allowed check `exchange` (on the exchange's loop). A lease under
    /// the same id is settled as expired: ids are the gateway's or Envoy's, unique per request.
    func hold(_ ticket: LimitTicket, for exchange: Exchange) {
        let loop = exchange.eventLoop
        let held = Held(ticket: ticket, exchange: exchange)
        // The body is not needed to settle (the prompt estimate was recorded).
        exchange.body = nil
        let key = exchange.requestID
        let bound = NIOLoopBound(held, eventLoop: loop)
        let (admitted, displaced) = self.table.withLockedValue { table -> (Bool, NIOLoopBound<Held>?) in
            if table[key] == nil && table.count >= self.maxLeases { return (false, nil) }
            return (true, table.updateValue(bound, forKey: key))
        }
        guard admitted else {
            self.overflowed.wrappingIncrement(ordering: .relaxed)
            ticket.settle(exchange, outcome: .completed)
            return
        }
        if let displaced { Self.onLoop(displaced) { self.finish($0, usage: nil, counter: self.expired) } }
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
        if let usage { held.exchange.usage = usage }
        counter.wrappingIncrement(ordering: .relaxed)
        held.ticket.settle(held.exchange, outcome: .completed)
    }
}
