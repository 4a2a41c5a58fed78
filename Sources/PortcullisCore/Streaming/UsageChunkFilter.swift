import NIOCore

/// Takes the usage-only event out of an event stream, for a client that did not ask for usage
/// when the gateway asked the backend for it (token quotas settle to it).
///
/// The event dropped is the one OpenAI and vLLM send last when `include_usage` is set: its data
/// has an empty `choices` array and a `usage` object, as compact JSON (`"choices":[]`,
/// `"usage":{`, or with one space after the colon, as Python's `json.dumps` writes). An event
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

    static func isUsageOnly(_ event: UnsafeRawBufferPointer) -> Bool {
        (Self.contains(event, #""choices":[]"#) || Self.contains(event, #""choices": []"#))
            && (Self.contains(event, #""usage":{"#) || Self.contains(event, #""usage": {"#))
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { needle in
            guard let first = needle.first, haystack.count >= needle.count else { return false }
            var i = 0
            let last = haystack.count - needle.count
            while i <= last {
                if haystack[i] == first && memcmp(haystack.baseAddress! + i, needle.baseAddress!, needle.count) == 0 { return true }
                i += 1
            }
            return false
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
