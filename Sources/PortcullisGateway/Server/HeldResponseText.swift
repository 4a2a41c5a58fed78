import NIOCore
import PortcullisCore

/// The parts of a JSON answer a token quota holds, kept by reference (not copied) until the
/// answer ends, so its generated text is counted (``GeneratedTextCounter``) only when the
/// backend reported no usage. Most backends do, and the scan is then never made. Past
/// ``limit`` bytes or ``partLimit`` parts (each part keeps its whole read buffer alive), what was
/// held is counted and the rest is counted as it passes.
struct HeldResponseText {
    static let limit = 128 * 1024
    static let partLimit = 8

    private var first: ByteBuffer?
    private var rest: [ByteBuffer] = []
    private var bytes = 0
    /// Over the limit: the caller counts as the bytes pass.
    private(set) var overflowed = false

    /// Keeps `part`. Returns false once the limit is passed: what was held went into `counter`,
    /// and the caller counts from now on (this part included).
    mutating func hold(_ part: ByteBuffer, counter: inout GeneratedTextCounter) -> Bool {
        guard !self.overflowed else { return false }
        self.bytes += part.readableBytes
        if self.bytes > Self.limit || self.rest.count + 1 >= Self.partLimit {
            self.overflowed = true
            self.drain(into: &counter)
            return false
        }
        if self.first == nil { self.first = part } else { self.rest.append(part) }
        return true
    }

    /// Counts what is held, and lets it go.
    mutating func drain(into counter: inout GeneratedTextCounter) {
        if let first = self.first { first.withUnsafeReadableBytes { counter.feed($0) } }
        for part in self.rest { part.withUnsafeReadableBytes { counter.feed($0) } }
        self.first = nil
        self.rest = []
    }
}
