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

    /// As header lines of an HTTP/1 head (each after a `\r\n`), written straight into the
    /// head's buffer (the values of ``forEach(_:)``, without a string per value).
    func write(into buffer: inout ByteBuffer) {
        if let requests {
            Self.write(requests, limit: "\r\nx-ratelimit-limit-requests: ", remaining: "\r\nx-ratelimit-remaining-requests: ",
                       reset: "\r\nx-ratelimit-reset-requests: ", into: &buffer)
        }
        if let tokens {
            Self.write(tokens, limit: "\r\nx-ratelimit-limit-tokens: ", remaining: "\r\nx-ratelimit-remaining-tokens: ",
                       reset: "\r\nx-ratelimit-reset-tokens: ", into: &buffer)
        }
    }

    private static func write(
        _ window: Window, limit: StaticString, remaining: StaticString, reset: StaticString, into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(limit)
        buffer.writeDecimal(window.limit)
        buffer.writeStaticString(remaining)
        buffer.writeDecimal(window.remaining)
        buffer.writeStaticString(reset)
        Self.writeDuration(window.resetNanos, into: &buffer)
    }

    static func writeDuration(_ nanos: Int64, into buffer: inout ByteBuffer) {
        guard nanos > 0 else {
            buffer.writeStaticString("0s")
            return
        }
        if nanos < 1_000_000_000 {
            buffer.writeDecimal(Int(max(1, (nanos + 999_999) / 1_000_000)))
            buffer.writeStaticString("ms")
            return
        }
        let seconds = nanos / 1_000_000_000 + (nanos % 1_000_000_000 > 0 ? 1 : 0)
        let (hours, rest) = seconds.quotientAndRemainder(dividingBy: 3600)
        let (minutes, secs) = rest.quotientAndRemainder(dividingBy: 60)
        if hours > 0 {
            buffer.writeDecimal(Int(hours))
            buffer.writeStaticString("h")
        }
        if hours > 0 || minutes > 0 {
            buffer.writeDecimal(Int(minutes))
            buffer.writeStaticString("m")
        }
        buffer.writeDecimal(Int(secs))
        buffer.writeStaticString("s")
    }

    /// Go-style durations, as OpenAI sends them: `20ms` under a second, else `59s`, `6m0s`, `1h2m3s`.
    static func duration(_ nanos: Int64) -> String {
        var buffer = ByteBuffer()
        Self.writeDuration(nanos, into: &buffer)
        return String(buffer: buffer)
    }
}
