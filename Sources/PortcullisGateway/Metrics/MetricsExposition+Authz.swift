import NIOCore

extension MetricsExposition {
    /// The ext_authz check leases (``CheckLeases``): held now, and settled by reason. Checks
    /// themselves are counted in the request families, `mode="authz"`.
    func writeAuthz(into out: inout ByteBuffer) {
        guard let leases = self.process.authzLeases else { return }
        Self.header(
            "portcullis_authz_leases_open", "gauge",
            "Limit tickets (slots, reservations) held for requests ext_authz checks allowed, awaiting a report or expiry.", into: &out)
        out.writeString("portcullis_authz_leases_open \(leases.open)\n")
        Self.header(
            "portcullis_authz_leases_settled_total", "counter",
            "Check leases settled, by reason (report: a usage report; expired: the lease ran out; overflow: no room to hold it).",
            into: &out)
        out.writeString("portcullis_authz_leases_settled_total{reason=\"report\"} \(leases.reported)\n")
        out.writeString("portcullis_authz_leases_settled_total{reason=\"expired\"} \(leases.expired)\n")
        out.writeString("portcullis_authz_leases_settled_total{reason=\"overflow\"} \(leases.overflowed)\n")
    }
}
