import NIOCore

/// Takes the usage-only event out of an event stream, for a client that did not ask for usage
/// when the gateway asked the backend for it (token quotas settle to it).
///
/// The event dropped is the one OpenAI and vLLM send last when `include_usage` is set: its data
/// has a `usage` object and an empty (or no) `choices` array, spaces allowed. An event
/// that also carries choices is never dropped, so no content is lost. Complete events pass
/// through as slices of the buffers they came in (no copy); only an event split across reads
/// is held until its end, then sent or dropped whole. A held event larger than
/// ``holdLimit`` (a usage chunk is far smaller) is forwarded as it is, and the rest of it
/// passes straight through: memory stays bounded and rescanning a held event stays cheap.
public struct UsageChunkFilter: Sendable {
    public static let holdLimit = 16 * 1024

    private var pending: ByteBuffer?
    /// The current event was too large to hold: it passes through to its end.
    private var passing = false
    /// Bytes of the current line seen so far, while passing through.
    private var passingLine = 0

    public init() {}

    /// The parts of `buffer` to forward now, in order.
    public mutating func feed(_ buffer: ByteBuffer, into out: inout [ByteBuffer]) {
        var input = buffer
        if var held = self.pending {
            self.pending = nil
            held.writeImmutableBuffer(buffer)
            input = held
        }
        var passing = self.passing
        var segmentStart = 0  // start of what is to be forwarded
        var eventStart = 0
        var forward: [Range<Int>] = []
        var lineLength = passing ? self.passingLine : 0
        input.withUnsafeReadableBytes { bytes in
            let count = bytes.count
            var i = 0
            while i < count {
                let byte = bytes[i]
                guard byte == 0x0A || byte == 0x0D else {
                    lineLength += 1
                    i += 1
                    continue
                }
                var end = i + 1
                // A CR last in the read may be half of a CRLF: decided once the next byte is in.
                if byte == 0x0D && end == count { break }
                if byte == 0x0D && bytes[end] == 0x0A { end += 1 }
                if lineLength == 0 && (end - eventStart > end - i || passing) {
                    // A blank line after the event's lines: the event is complete.
                    if !passing && Self.isUsageOnly(UnsafeRawBufferPointer(rebasing: bytes[eventStart..<end])) {
                        if eventStart > segmentStart { forward.append(segmentStart..<eventStart) }
                        segmentStart = end
                    }
                    eventStart = end
                    passing = false
                } else if lineLength == 0 {
                    eventStart = end  // a stray blank line between events
                }
                lineLength = 0
                i = end
            }
        }
        // Too large an event to hold (or one already passing through): it goes on as it is.
        if passing || input.readableBytes - eventStart > Self.holdLimit {
            passing = true
            eventStart = input.readableBytes
        }
        self.passing = passing
        self.passingLine = lineLength
        if eventStart > segmentStart { forward.append(segmentStart..<eventStart) }
        for range in forward {
            out.append(input.getSlice(at: input.readerIndex + range.lowerBound, length: range.count)!)
        }
        if eventStart < input.readableBytes {
            self.pending = input.getSlice(at: input.readerIndex + eventStart, length: input.readableBytes - eventStart)
        }
    }

    /// What is held at the stream's end (an unterminated last event), forwarded as it is
    /// unless it is the usage-only event.
    public mutating func finish() -> ByteBuffer? {
        defer { self.pending = nil }
        guard let pending = self.pending else { return nil }
        let usageOnly = pending.withUnsafeReadableBytes { Self.isUsageOnly($0) }
        return usageOnly ? nil : pending
    }

    /// A `usage` object, and `choices` empty (whitespace allowed: `[ ]`) or absent.
    static func isUsageOnly(_ event: UnsafeRawBufferPointer) -> Bool {
        guard Self.keyFollowedBy(event, #""usage""#, UInt8(ascii: "{"), then: nil) else { return false }
        return Self.keyFollowedBy(event, #""choices""#, UInt8(ascii: "["), then: UInt8(ascii: "]"))
            || Self.find(event, #""choices""#, from: 0) == nil
    }

    /// Whether `key` occurs followed (after optional whitespace, `:` and whitespace) by `open`,
    /// and, when `close` is given, by `close` after optional whitespace.
    private static func keyFollowedBy(_ bytes: UnsafeRawBufferPointer, _ key: StaticString, _ open: UInt8, then close: UInt8?) -> Bool {
        var from = 0
        while let at = Self.find(bytes, key, from: from) {
            var i = at + key.utf8CodeUnitCount
            func skipSpace() { while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 } }
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: ":") {
                i += 1
                skipSpace()
                if i < bytes.count && bytes[i] == open {
                    guard let close else { return true }
                    i += 1
                    skipSpace()
                    if i < bytes.count && bytes[i] == close { return true }
                }
            }
            from = at + 1
        }
        return false
    }

    private static func find(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString, from start: Int) -> Int? {
        needle.withUTF8Buffer { needle in
            guard let first = needle.first, haystack.count >= needle.count else { return nil }
            var i = start
            let last = haystack.count - needle.count
            while i <= last {
                if haystack[i] == first && memcmp(haystack.baseAddress! + i, needle.baseAddress!, needle.count) == 0 { return i }
                i += 1
            }
            return nil
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
