import NIOCore
import PortcullisConfig

/// Answers ext_authz checks (`authz:`) with the gateway's own stages, on the gateway's event
/// loops and from its current snapshot (so a reload applies to checks as to requests). The
/// gRPC server (PortcullisAuthz) converts each `CheckRequest` to a ``CheckInput`` and the
/// ``CheckVerdict`` back.
public final class CheckEngine: Sendable {
    let contexts: LoopContexts
    let group: any EventLoopGroup
    public let leases: CheckLeases
    let listener: String?

    init(contexts: LoopContexts, group: any EventLoopGroup, spec: AuthzServerSpec) {
        self.contexts = contexts
        self.group = group
        self.leases = CheckLeases(leaseNanos: spec.leaseNanos, maxLeases: spec.maxLeases)
        self.listener = spec.listener
    }

    /// Runs one check. The future always succeeds; `cancel` abandons the check (Envoy gave up).
    public func check(_ input: CheckInput) -> (verdict: EventLoopFuture<CheckVerdict>, cancel: @Sendable () -> Void) {
        let loop = self.group.next()
        let started = loop.submit { [self] in
            NIOLoopBound(CheckRun.start(input, context: self.contexts.current(loop), leases: self.leases, listener: self.listener), eventLoop: loop)
        }
        let verdict = started.flatMap { $0.value.future }
        return (verdict, { started.whenSuccess { $0.value.cancel() } })
    }
}
