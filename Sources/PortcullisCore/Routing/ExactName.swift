/// A name compared and hashed on its UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence, so `"cafe\u{301}"` (NFD) equals `"café"` (NFC); a model name a client sends
/// must only ever reach the route whose name is byte for byte the same, never one that merely
/// looks or normalises alike.
public struct ExactName: Hashable, Sendable {
    public let text: String

    public init(_ text: String) {
        self.text = text
    }

    public static func == (lhs: ExactName, rhs: ExactName) -> Bool {
        Self.same(lhs.text, rhs.text)
    }

    public func hash(into hasher: inout Hasher) {
        let done: Void? = self.text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in self.text.utf8 { hasher.combine(byte) }
        }
        hasher.combine(self.text.utf8.count)
    }

    /// Whether two strings are the same bytes.
    @inline(__always)
    public static func same(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // Native strings are contiguous UTF-8: compare the bytes in one go.
        let fast: Bool? = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                memcmpEqual(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y))
            }
        } ?? nil
        return fast ?? a.utf8.elementsEqual(b.utf8)
    }
}
