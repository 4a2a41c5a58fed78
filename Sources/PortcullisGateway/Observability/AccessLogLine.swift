import NIOCore
import PortcullisConfig
import PortcullisCore

/// The access-log line: one JSON object per exchange, written by its ledger. Never contains a
/// header value, a token, a key, a query string or any body text; the model name is the
/// client's and is escaped; the tenant and subject are verified identity values (printable
/// ASCII, at most 256 bytes), also when a later check refused the caller.
enum AccessLogLine {
    static func write(_ exchange: Exchange, outcome: Outcome, now: NIODeadline, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":")
        buffer.writeDecimal(Int(exchange.receivedAtWall))
        buffer.writeStaticString(",\"id\":")
        JSONString.writeQuoted(exchange.requestID, into: &buffer)
        buffer.writeStaticString(",\"method\":")
        JSONString.writeQuoted(exchange.head.method.rawValue, into: &buffer)
        buffer.writeStaticString(",\"path\":")
        JSONString.writeQuoted(exchange.target.path, into: &buffer)
        buffer.writeStaticString(",\"status\":")
        buffer.writeDecimal(exchange.status)
        // Only on ext_authz checks (`status` is then the check's answer: 200 allowed).
        if exchange.mode == .authz { buffer.writeStaticString(",\"mode\":\"authz\"") }
        if let upstreamStatus = exchange.upstreamStatus {
            buffer.writeStaticString(",\"upstream_status\":")
            buffer.writeDecimal(upstreamStatus)
        }
        buffer.writeStaticString(",\"outcome\":\"")
        buffer.writeString(outcome.label)
        buffer.writeStaticString("\"")
        switch outcome {
        case .clientAborted(let phase), .upstreamFailed(let phase):
            buffer.writeStaticString(",\"phase\":\"")
            buffer.writeString(phase.rawValue)
            buffer.writeStaticString("\"")
        case .timedOut(let kind):
            buffer.writeStaticString(",\"timeout\":\"")
            buffer.writeString(kind.rawValue)
            buffer.writeStaticString("\"")
        case .completed, .refused:
            break
        }
        if let refusal = exchange.refusal {
            buffer.writeStaticString(",\"reason\":\"")
            buffer.writeString(refusal.rawValue)
            buffer.writeStaticString("\"")
        }
        if let rule = exchange.limitRefused {
            buffer.writeStaticString(",\"limit\":")
            JSONString.writeQuoted(rule.label, into: &buffer)
        }
        if let rule = exchange.shadowLimitRefused {
            buffer.writeStaticString(",\"shadow_limit\":")
            JSONString.writeQuoted(rule.label, into: &buffer)
        }
        if let charged = exchange.chargedTokens {
            // What the token quotas were charged; the whole reservation when usage was missing.
            buffer.writeStaticString(",\"charged_tokens\":")
            buffer.writeDecimal(charged)
            if exchange.usageMissing { buffer.writeStaticString(",\"usage\":\"missing\"") }
        }
        if let micros = exchange.chargedMicros {
            // What the budgets were charged, in dollars (µUSD precision).
            buffer.writeStaticString(",\"charged_usd\":")
            buffer.writeString(Self.dollars(micros))
            if exchange.usageMissing && exchange.chargedTokens == nil { buffer.writeStaticString(",\"usage\":\"missing\"") }
        }
        if let abort = exchange.abortReason {
            buffer.writeStaticString(",\"abort\":\"")
            buffer.writeString(abort.rawValue)
            buffer.writeStaticString("\"")
        }
        if let identity = exchange.identity {
            buffer.writeStaticString(",\"tenant\":")
            JSONString.writeQuoted(identity.tenant, into: &buffer)
            buffer.writeStaticString(",\"auth\":\"")
            buffer.writeString(identity.method.rawValue)
            buffer.writeStaticString("\",\"credential\":")
            JSONString.writeQuoted(identity.credentialName, into: &buffer)
            if let subject = identity.subject {
                buffer.writeStaticString(",\"subject\":")
                JSONString.writeQuoted(subject, into: &buffer)
            }
            if let org = identity.org {
                buffer.writeStaticString(",\"org\":")
                JSONString.writeQuoted(org, into: &buffer)
            }
            if let plan = identity.plan {
                buffer.writeStaticString(",\"plan\":")
                JSONString.writeQuoted(plan, into: &buffer)
            }
        }
        if let failure = exchange.authFailure {
            buffer.writeStaticString(",\"auth_failure\":\"")
            buffer.writeString(failure.label)
            buffer.writeStaticString("\"")
        }
        if let model = exchange.request?.model {
            buffer.writeStaticString(",\"model\":")
            JSONString.writeQuoted(model.count > 128 ? String(model.prefix(128)) : model, into: &buffer)
        }
        if let route = exchange.route {
            buffer.writeStaticString(",\"route\":")
            JSONString.writeQuoted(route.name, into: &buffer)
        }
        if let backend = exchange.backend {
            buffer.writeStaticString(",\"backend\":")
            JSONString.writeQuoted(backend.name, into: &buffer)
        }
        if let endpoint = exchange.upstreamEndpoint {
            buffer.writeStaticString(",\"upstream\":")
            JSONString.writeQuoted(endpoint.key, into: &buffer)
        }
        if exchange.authorizationSkipped {
            // The external check failed and the route fails open: an operator must see it.
            buffer.writeStaticString(",\"authz\":\"failure_mode_allowed\"")
        }
        if let usage = exchange.usage {
            buffer.writeStaticString(",\"prompt_tokens\":")
            buffer.writeDecimal(usage.promptTokens)
            buffer.writeStaticString(",\"completion_tokens\":")
            buffer.writeDecimal(usage.completionTokens)
            buffer.writeStaticString(",\"total_tokens\":")
            buffer.writeDecimal(usage.totalTokens)
        }
        buffer.writeStaticString(",\"bytes_in\":")
        buffer.writeDecimal(exchange.requestBytes)
        buffer.writeStaticString(",\"bytes_out\":")
        buffer.writeDecimal(exchange.responseBytes)
        if exchange.upstreamAttempts > 0 {
            buffer.writeStaticString(",\"retries\":")
            buffer.writeDecimal(exchange.upstreamAttempts - 1)
        }
        buffer.writeStaticString(",\"duration_ms\":")
        buffer.writeMillis(nanoseconds: (now - exchange.receivedAt).nanoseconds)
        if let forwardedAt = exchange.forwardedAt {
            buffer.writeStaticString(",\"overhead_ms\":")
            buffer.writeMillis(nanoseconds: (forwardedAt - exchange.receivedAt).nanoseconds)
        }
        if let firstEventAt = exchange.firstEventAt {
            buffer.writeStaticString(",\"ttft_ms\":")
            buffer.writeMillis(nanoseconds: (firstEventAt - exchange.receivedAt).nanoseconds)
        }
        buffer.writeStaticString("}\n")
    }

    /// µUSD as a JSON number of dollars, exactly (`0.00024`, `12.5`), never in exponent form.
    static func dollars(_ micros: Int) -> String {
        let whole = micros / 1_000_000
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }
}
