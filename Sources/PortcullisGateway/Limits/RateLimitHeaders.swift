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
    /// head's buffer (the values of ``forEach(_:)``, without a string per value), in one
    /// reservation of the buffer rather than a capacity check per piece.
    func write(into buffer: inout ByteBuffer) {
        guard self.requests != nil || self.tokens != nil else { return }
        let room = (self.requests != nil ? Self.longestLines : 0) + (self.tokens != nil ? Self.longestLines : 0)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var writer = LineWriter(out: out)
            if let requests = self.requests {
                writer.write(requests, limit: "\r\nx-ratelimit-limit-requests: ", remaining: "\r\nx-ratelimit-remaining-requests: ",
                             reset: "\r\nx-ratelimit-reset-requests: ")
            }
            if let tokens = self.tokens {
                writer.write(tokens, limit: "\r\nx-ratelimit-limit-tokens: ", remaining: "\r\nx-ratelimit-remaining-tokens: ",
                             reset: "\r\nx-ratelimit-reset-tokens: ")
            }
            return writer.count
        }
    }

    /// Room for one window's lines at their longest: the names (the `-requests` ones are the
    /// longer, 96 bytes), two signed 20-digit numbers and a duration (`2562047h47m17s`).
    static let longestLines = 96 + 2 * 21 + 16

    /// Writes into reserved bytes: static names, decimals and durations, no checks per piece.
    private struct LineWriter {
        let out: UnsafeMutableRawBufferPointer
        var count = 0

        mutating func write(_ window: Window, limit: StaticString, remaining: StaticString, reset: StaticString) {
            self.write(limit)
            self.write(signed: window.limit)
            self.write(remaining)
            self.write(signed: window.remaining)
            self.write(reset)
            self.write(duration: window.resetNanos)
        }

        mutating func write(_ text: StaticString) {
            let bytes = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
            UnsafeMutableRawBufferPointer(rebasing: self.out[self.count...]).copyMemory(from: bytes)
            self.count += bytes.count
        }

        /// As `String(value)` writes it (as the HTTP/2 head's values are).
        mutating func write(signed value: Int) {
            if value < 0 {
                self.out[self.count] = UInt8(ascii: "-")
                self.count += 1
            }
            self.write(UInt64(value.magnitude))
        }

        mutating func write(_ value: UInt64) {
            var digits = 1
            var rest = value / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var v = value
            for i in stride(from: self.count + digits - 1, through: self.count, by: -1) {
                self.out[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            self.count += digits
        }

        /// A Go-style duration (see ``RateLimitHeaders/duration(_:)``).
        mutating func write(duration nanos: Int64) {
            guard nanos > 0 else { return self.write("0s") }
            if nanos < 1_000_000_000 {
                self.write(UInt64(max(1, (nanos + 999_999) / 1_000_000)))
                return self.write("ms")
            }
            let seconds = nanos / 1_000_000_000 + (nanos % 1_000_000_000 > 0 ? 1 : 0)
            let (hours, rest) = seconds.quotientAndRemainder(dividingBy: 3600)
            let (minutes, secs) = rest.quotientAndRemainder(dividingBy: 60)
            if hours > 0 {
                self.write(UInt64(hours))
                self.write("h")
            }
            if hours > 0 || minutes > 0 {
                self.write(UInt64(minutes))
                self.write("m")
            }
            self.write(UInt64(secs))
            self.write("s")
        }
    }

    /// Go-style durations, as OpenAI sends them: `20ms` under a second, else `59s`, `6m0s`, `1h2m3s`.
    static func duration(_ nanos: Int64) -> String {
        var buffer = ByteBuffer()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { out in
            var writer = LineWriter(out: out)
            writer.write(duration: nanos)
            return writer.count
        }
        return String(buffer: buffer)
    }
}
