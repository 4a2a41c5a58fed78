import NIOCore
import NIOHPACK
import NIOHTTP1

/// OpenAI's rate-limit response headers, for the request limit and the token limit closest to
/// running out among those the request met: `x-ratelimit-limit-requests`,
/// `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` (time until the limit is
/// whole again, as `1s`, `6m0s`, `20ms`) and the `-tokens` three. Sent on forwarded answers and
/// on the gateway's own 429s; a backend's own `x-ratelimit-*` never reaches the client (they
/// describe the gateway's account with the provider, not the tenant's limits).
struct RateLimitHeaders: Equatable {
    struct Window: Equatable {
        var limit: Int
        var remaining: Int
        var resetNanos: Int64
    }

    var requests: Window?
    var tokens: Window?

    var isEmpty: Bool { self.requests == nil && self.tokens == nil }

    /// Keeps the window with less left.
    static func tighter(_ current: Window?, _ candidate: Window) -> Window {
        guard let current else { return candidate }
        return candidate.remaining < current.remaining ? candidate : current
    }

    func forEach(_ body: (String, String) -> Void) {
        if let requests {
            body("x-ratelimit-limit-requests", String(requests.limit))
            body("x-ratelimit-remaining-requests", String(requests.remaining))
            body("x-ratelimit-reset-requests", Self.duration(requests.resetNanos))
        }
        if let tokens {
            body("x-ratelimit-limit-tokens", String(tokens.limit))
            body("x-ratelimit-remaining-tokens", String(tokens.remaining))
            body("x-ratelimit-reset-tokens", Self.duration(tokens.resetNanos))
        }
    }

    /// As header lines of an HTTP/1 head (each after a `\r\n`).
    func write(into buffer: inout ByteBuffer) {
        self.forEach { name, value in
            buffer.writeStaticString("\r\n")
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
        }
    }

    /// Go-style durations, as OpenAI sends them: `20ms` under a second, else `59s`, `6m0s`, `1h2m3s`.
    static func duration(_ nanos: Int64) -> String {
        guard nanos > 0 else { return "0s" }
        if nanos < 1_000_000_000 { return "\(max(1, (nanos + 999_999) / 1_000_000))ms" }
        let seconds = (nanos + 999_999_999) / 1_000_000_000
        let (hours, rest) = seconds.quotientAndRemainder(dividingBy: 3600)
        let (minutes, secs) = rest.quotientAndRemainder(dividingBy: 60)
        if hours > 0 { return "\(hours)h\(minutes)m\(secs)s" }
        if minutes > 0 { return "\(minutes)m\(secs)s" }
        return "\(secs)s"
    }
}
