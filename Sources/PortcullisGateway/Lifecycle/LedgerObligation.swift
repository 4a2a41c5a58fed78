import PortcullisCore

/// Something that must happen exactly once at the end of an exchange: release a concurrency
/// slot, settle a token reservation, count metrics, write the access-log line, end a span.
///
/// A class-bound protocol so that long-lived objects (a loop's access-log writer, its
/// in-flight counter) register themselves without a closure allocation per request.
public protocol LedgerObligation: AnyObject {
    /// Runs exactly once for each exchange the obligation was registered with, after the
    /// exchange's last byte was written or at once when it failed.
    func settle(_ exchange: Exchange, outcome: Outcome)
}
