import NIOCore
import PortcullisCore

/// Renders `/metrics` in the Prometheus text exposition format (version 0.0.4).
///
/// Written here rather than with swift-prometheus: its counters are shared atomics looked up
/// by name and labels, while the hot path keeps plain per-loop arrays summed at
/// scrape (``LoopMetrics``); what is left is printing, which this does. Metric names follow
/// the OpenTelemetry GenAI semantic conventions where they define one
/// (`gen_ai.server.request.duration`, `gen_ai.server.time_to_first_token`), converted to
/// Prometheus names as the OpenTelemetry Prometheus exporter does; the rest are
/// `portcullis_*`. A series appears once it has counted something.
struct MetricsExposition {
    /// Process-wide values the scrape reads besides the per-loop counts.
    struct Process {
        var reloadsSucceeded = 0
        var reloadsFailed = 0
        /// Per JWT provider: name, refreshes that succeeded, that failed.
        var jwks: [(provider: String, succeeded: Int, failed: Int)] = []
        var limitSlotsInUse = 0
        /// The shared limit store, when one is configured.
        var limitStore: LimitStoreStats?
        /// Each configured backend's resilience state (breakers, retries, ejections, health).
        var backends: [BackendStats] = []
        /// The ext_authz check leases, when `authz:` is configured.
        var authzLeases: AuthzLeaseStats?
    }

    struct AuthzLeaseStats {
        var open: Int
        var reported: Int
        var expired: Int
        var overflowed: Int
    }

    /// The shared (Redis) limit store's state at the scrape.
    struct LimitStoreStats {
        var up: Bool
        var leases: Int
        var errors: [(kind: String, count: Int)]
        var fallbacks: [(mode: String, count: Int)]
    }

    let counts: LoopMetrics.Counts
    let names: MetricSeries.Names
    let process: Process

    func render() -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(16 * 1024)
        self.writeBuildInfo(into: &out)
        self.writeRequests(into: &out)
        self.writeTokens(into: &out)
        self.writeTimings(into: &out)
        self.writeRefusals(into: &out)
        self.writeUpstream(into: &out)
        self.writeLimits(into: &out)
        self.writeResilience(into: &out)
        self.writeAuthz(into: &out)
        Self.header("portcullis_requests_in_flight", "gauge", "Requests in flight (received, not yet settled).", into: &out)
        out.writeString("portcullis_requests_in_flight \(self.counts.inFlight)\n")
        Self.header("portcullis_config_reloads_total", "counter", "Config reloads by outcome.", into: &out)
        out.writeString("portcullis_config_reloads_total{outcome=\"success\"} \(self.process.reloadsSucceeded)\n")
        out.writeString("portcullis_config_reloads_total{outcome=\"failure\"} \(self.process.reloadsFailed)\n")
        Self.header(
            "portcullis_jwks_refreshes_total", "counter", "JWKS fetches (and key-file reads) by provider and outcome.",
            into: &out)
        for provider in self.process.jwks {
            let label = Self.escaped(provider.provider)
            out.writeString("portcullis_jwks_refreshes_total{provider=\"\(label)\",outcome=\"success\"} \(provider.succeeded)\n")
            out.writeString("portcullis_jwks_refreshes_total{provider=\"\(label)\",outcome=\"failure\"} \(provider.failed)\n")
        }
        return out
    }

    private func writeBuildInfo(into out: inout ByteBuffer) {
        Self.header("portcullis_build_info", "gauge", "The running version.", into: &out)
        out.writeString("portcullis_build_info{version=\"\(Self.escaped(PortcullisVersion.current))\"} 1\n")
    }

    private static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    private func slotLabels(_ slot: Int) -> String {
        let names = self.names.slots[slot]
        return "route=\"\(Self.escaped(names.route))\",model=\"\(Self.escaped(names.model))\",mode=\"\(names.mode.rawValue)\""
    }

    private func writeRequests(into out: inout ByteBuffer) {
        Self.header(
            "portcullis_requests_total", "counter", "Requests by tenant, route, model and the status class answered.",
            into: &out)
        self.forEachTenantSlot { tenant, slot, values in
            for (i, statusClass) in Self.statusClasses.enumerated() where values[i] > 0 {
                out.writeString(
                    "portcullis_requests_total{tenant=\"\(tenant)\",\(self.slotLabels(slot)),status_class=\"\(statusClass)\"} \(values[i])\n")
            }
        }
    }

    private func writeTokens(into out: inout ByteBuffer) {
        Self.header(
            "portcullis_tokens_total", "counter",
            "Tokens the backends reported (usage), by tenant, route, model and type (input, output).", into: &out)
        self.forEachTenantSlot { tenant, slot, values in
            guard values[LoopMetrics.inputTokensField] + values[LoopMetrics.outputTokensField] > 0 else { return }
            let labels = "tenant=\"\(tenant)\",\(self.slotLabels(slot))"
            out.writeString("portcullis_tokens_total{\(labels),type=\"input\"} \(values[LoopMetrics.inputTokensField])\n")
            out.writeString("portcullis_tokens_total{\(labels),type=\"output\"} \(values[LoopMetrics.outputTokensField])\n")
        }
    }

    /// Calls `body` with the escaped tenant, the slot and its fields, for every pair counted.
    private func forEachTenantSlot(_ body: (String, Int, [Int]) -> Void) {
        for (tenantID, fields) in self.counts.tenants.enumerated() where !fields.isEmpty {
            let tenant = Self.escaped(self.names.tenants[tenantID])
            var slot = 0
            while (slot + 1) * LoopMetrics.slotFields <= fields.count {
                let values = Array(fields[(slot * LoopMetrics.slotFields)..<((slot + 1) * LoopMetrics.slotFields)])
                if values.prefix(5).contains(where: { $0 > 0 }) { body(tenant, slot, values) }
                slot += 1
            }
        }
    }

    private func writeTimings(into out: inout ByteBuffer) {
        let duration = HistogramBuckets.requestDuration
        let ttft = HistogramBuckets.timeToFirstToken
        Self.header(
            "gen_ai_server_request_duration_seconds", "histogram",
            "Time from the request's arrival to its last response byte, by route and model.", into: &out)
        let slots = self.counts.timings.count / LoopMetrics.timingStride
        for slot in 0..<slots {
            let base = slot * LoopMetrics.timingStride
            Self.writeHistogram(
                "gen_ai_server_request_duration_seconds", labels: self.slotLabels(slot), buckets: duration,
                counts: self.counts.timings, at: base, into: &out)
        }
        Self.header(
            "gen_ai_server_time_to_first_token_seconds", "histogram",
            "Time from the request's arrival to its first complete server-sent event (streams), by route and model.",
            into: &out)
        for slot in 0..<slots {
            let base = slot * LoopMetrics.timingStride + duration.stride
            Self.writeHistogram(
                "gen_ai_server_time_to_first_token_seconds", labels: self.slotLabels(slot), buckets: ttft,
                counts: self.counts.timings, at: base, into: &out)
        }
    }

    private func writeRefusals(into out: inout ByteBuffer) {
        Self.header(
            "portcullis_refusals_total", "counter", "Requests the gateway answered itself, by category and reason.",
            into: &out)
        for reason in RefusalReason.allCases {
            let count = self.counts.refusals[reason.ordinal]
            guard count > 0 else { continue }
            out.writeString(
                "portcullis_refusals_total{category=\"\(reason.category.rawValue)\",reason=\"\(reason.rawValue)\"} \(count)\n")
        }
    }

    private func writeLimits(into out: inout ByteBuffer) {
        Self.header(
            "portcullis_limit_decisions_total", "counter",
            "Limit checks by tenant, limit and decision (admitted, refused, shadow_refused: a shadow limit that would have refused; cut: a stream a hard ceiling cut off).",
            into: &out)
        for (tenantID, fields) in self.counts.limits.enumerated() where !fields.isEmpty {
            let tenant = Self.escaped(self.names.tenants[tenantID])
            for (i, count) in fields.enumerated() where count > 0 {
                let (limit, decision) = i.quotientAndRemainder(dividingBy: LimitDecision.allCases.count)
                out.writeString(
                    "portcullis_limit_decisions_total{tenant=\"\(tenant)\",limit=\"\(Self.escaped(self.names.limits[limit]))\",decision=\"\(LimitDecision.allCases[decision].rawValue)\"} \(count)\n")
            }
        }
        Self.header("portcullis_limit_slots_in_use", "gauge", "Concurrency slots held in this process's memory (with a Redis store: only the local fallback's; see portcullis_limit_leases_held).", into: &out)
        out.writeString("portcullis_limit_slots_in_use \(self.process.limitSlotsInUse)\n")
        Self.header(
            "portcullis_limit_reservations_open", "gauge",
            "Token-quota and budget reservations held by requests in flight (taken before forwarding, not yet settled).", into: &out)
        out.writeString("portcullis_limit_reservations_open \(self.counts.openReservations)\n")
        guard let store = self.process.limitStore else { return }
        Self.header("portcullis_limit_store_up", "gauge", "Whether the shared limit store (Redis) has a connection up.", into: &out)
        out.writeString("portcullis_limit_store_up \(store.up ? 1 : 0)\n")
        Self.header("portcullis_limit_leases_held", "gauge", "Concurrency leases this replica holds in the shared store.", into: &out)
        out.writeString("portcullis_limit_leases_held \(store.leases)\n")
        Self.header(
            "portcullis_limit_store_errors_total", "counter",
            "Shared limit store calls that failed: unavailable (no connection), timeout, closed, reply (an unexpected answer).",
            into: &out)
        for (kind, count) in store.errors {
            out.writeString("portcullis_limit_store_errors_total{error=\"\(kind)\"} \(count)\n")
        }
        Self.header(
            "portcullis_limit_store_fallbacks_total", "counter",
            "Limit checks the shared store could not answer, by what the limit did instead (local, open, closed).", into: &out)
        for (mode, count) in store.fallbacks {
            out.writeString("portcullis_limit_store_fallbacks_total{mode=\"\(mode)\"} \(count)\n")
        }
    }

    private func writeUpstream(into out: inout ByteBuffer) {
        let duration = HistogramBuckets.requestDuration
        let endpoints = self.counts.endpoints.count / LoopMetrics.endpointStride
        func labels(_ endpoint: Int) -> String {
            let names = self.names.endpoints[endpoint]
            return "backend=\"\(Self.escaped(names.backend))\",endpoint=\"\(Self.escaped(names.endpoint))\""
        }
        Self.header(
            "portcullis_upstream_request_duration_seconds", "histogram",
            "Time from writing the request upstream to the exchange's end, by backend and endpoint.", into: &out)
        for endpoint in 0..<endpoints {
            Self.writeHistogram(
                "portcullis_upstream_request_duration_seconds", labels: labels(endpoint), buckets: duration,
                counts: self.counts.endpoints, at: endpoint * LoopMetrics.endpointStride, into: &out)
        }
        Self.header(
            "portcullis_upstream_errors_total", "counter", "Failed backend calls by backend, endpoint and kind.",
            into: &out)
        for endpoint in 0..<endpoints {
            for kind in UpstreamErrorKind.allCases {
                let count = self.counts.endpoints[endpoint * LoopMetrics.endpointStride + duration.stride + kind.rawValue]
                guard count > 0 else { continue }
                out.writeString("portcullis_upstream_errors_total{\(labels(endpoint)),kind=\"\(kind.label)\"} \(count)\n")
            }
        }
    }

    /// One histogram series (cumulative buckets, sum in seconds, count), if it observed anything.
    private static func writeHistogram(
        _ name: String, labels: String, buckets: HistogramBuckets, counts: [Int], at base: Int, into out: inout ByteBuffer
    ) {
        let total = counts[base..<(base + buckets.bounds.count + 1)].reduce(0, +)
        guard total > 0 else { return }
        var cumulative = 0
        for (i, label) in buckets.labels.enumerated() {
            cumulative += counts[base + i]
            out.writeString("\(name)_bucket{\(labels),le=\"\(label)\"} \(cumulative)\n")
        }
        out.writeString("\(name)_bucket{\(labels),le=\"+Inf\"} \(total)\n")
        let sum = Double(counts[base + buckets.bounds.count + 1]) / 1e9
        out.writeString("\(name)_sum{\(labels)} \(sum)\n")
        out.writeString("\(name)_count{\(labels)} \(total)\n")
    }

    static func header(_ name: String, _ type: String, _ help: String, into out: inout ByteBuffer) {
        out.writeString("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
    }

    /// A label value as the text format needs it: backslash, double quote and line feed escaped.
    static func escaped(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") })
        else { return value }
        var out = ""
        for ch in value.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
