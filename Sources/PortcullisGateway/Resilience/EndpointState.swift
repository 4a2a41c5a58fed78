import Atomics
import NIOCore
import PortcullisConfig

/// One endpoint's runtime state, shared by every loop and kept across reloads: passive
/// outlier ejection, the active health check's verdict, and counts for `/backends` and metrics.
final class EndpointState: Sendable {
    let key: String
    /// Failures in a row (5xx answers, failed connects); a success resets it.
    let consecutiveFailures = ManagedAtomic<Int>(0)
    /// Until when (uptime nanoseconds) it is out of the rotation; in the past: in it.
    let ejectedUntil = ManagedAtomic<Int64>(0)
    /// Ejections in a row: the next one lasts `baseEjection` × this (reset after a long good spell).
    let ejectionStreak = ManagedAtomic<Int>(0)
    let ejectionsTotal = ManagedAtomic<Int>(0)
    /// The health check's verdict (true until a check says otherwise, and with no checks).
    let healthy = ManagedAtomic<Bool>(true)
    /// Health checks passed and failed in a row, and in total (touched by the checker alone).
    let checkPasses = ManagedAtomic<Int>(0)
    let checkFailures = ManagedAtomic<Int>(0)
    let checksPassed = ManagedAtomic<Int>(0)
    let checksFailed = ManagedAtomic<Int>(0)
    /// Attempts sent to it and not yet over, from every loop (least-request balancing reads it).
    let inFlight = ManagedAtomic<Int>(0)

    init(key: String) {
        self.key = key
    }

    /// Whether it may take traffic at `now`: healthy, and not ejected.
    @inline(__always)
    func isAvailable(at now: NIODeadline) -> Bool {
        self.healthy.load(ordering: .relaxed) && self.ejectedUntil.load(ordering: .relaxed) <= Int64(now.uptimeNanoseconds)
    }

    func isEjected(at now: NIODeadline) -> Bool {
        self.ejectedUntil.load(ordering: .relaxed) > Int64(now.uptimeNanoseconds)
    }

    /// A call to it went well: the failure streak ends (written only when there was one, so
    /// a healthy endpoint's line is never written by every loop).
    @inline(__always)
    func recordSuccess() {
        if self.consecutiveFailures.load(ordering: .relaxed) != 0 {
            self.consecutiveFailures.store(0, ordering: .relaxed)
        }
    }

    /// A call to it failed. Returns true when this failure ejected it: the streak reached the
    /// threshold and `ejectedElsewhere` (endpoints of the backend out already) leaves room
    /// under `maxEjectedPercent` of `endpointCount`.
    func recordFailure(_ spec: OutlierDetectionSpec, now: NIODeadline, endpointCount: Int, ejectedElsewhere: Int) -> Bool {
        guard spec.enabled else { return false }
        // Failures of calls that were in flight when it was ejected do not count toward the next ejection.
        guard !self.isEjected(at: now) else { return false }
        let failures = self.consecutiveFailures.wrappingIncrementThenLoad(ordering: .relaxed)
        guard failures >= spec.consecutiveFailures else { return false }
        guard (ejectedElsewhere + 1) * 100 <= spec.maxEjectedPercent * endpointCount else { return false }
        let nowNanos = Int64(now.uptimeNanoseconds)
        let previous = self.ejectedUntil.load(ordering: .relaxed)
        // A long good spell since the last ejection ended starts the streak again.
        let streak = nowNanos - previous > spec.maxEjectionNanos ? 1 : self.ejectionStreak.load(ordering: .relaxed) + 1
        let duration = min(spec.baseEjectionNanos.multipliedReportingOverflow(by: Int64(streak)).partialValue, spec.maxEjectionNanos)
        // One loop ejects it: another that got here at the same time finds the value changed.
        guard
            self.ejectedUntil.compareExchange(
                expected: previous, desired: nowNanos + max(duration, spec.baseEjectionNanos), ordering: .relaxed
            ).exchanged
        else { return false }
        self.ejectionStreak.store(streak, ordering: .relaxed)
        self.consecutiveFailures.store(0, ordering: .relaxed)
        self.ejectionsTotal.wrappingIncrement(ordering: .relaxed)
        return true
    }

    /// The backend has no health check any more: the endpoint is healthy by default again.
    func forgetHealth() {
        self.healthy.store(true, ordering: .relaxed)
        self.checkPasses.store(0, ordering: .relaxed)
        self.checkFailures.store(0, ordering: .relaxed)
    }

    /// One health-check result, against `spec`'s thresholds. Returns the verdict when it changed.
    func recordCheck(passed: Bool, _ spec: HealthCheckSpec) -> Bool? {
        if passed {
            self.checksPassed.wrappingIncrement(ordering: .relaxed)
            self.checkFailures.store(0, ordering: .relaxed)
            let passes = self.checkPasses.wrappingIncrementThenLoad(ordering: .relaxed)
            if !self.healthy.load(ordering: .relaxed) && passes >= spec.healthyThreshold {
                self.healthy.store(true, ordering: .relaxed)
                return true
            }
        } else {
            self.checksFailed.wrappingIncrement(ordering: .relaxed)
            self.checkPasses.store(0, ordering: .relaxed)
            let failures = self.checkFailures.wrappingIncrementThenLoad(ordering: .relaxed)
            if self.healthy.load(ordering: .relaxed) && failures >= spec.unhealthyThreshold {
                self.healthy.store(false, ordering: .relaxed)
                return false
            }
        }
        return nil
    }
}
