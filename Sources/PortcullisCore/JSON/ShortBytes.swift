/// Up to 16 bytes as two integers, the same for two runs of one length exactly when their
/// bytes are the same (``ByteNameTable`` tells names of one length apart by it): the first and
/// last eight bytes (4–8 bytes: the first and last four; 1–3 bytes: first, middle and last),
/// loaded whole, the loads overlapping when the run is short. Past 16 bytes it covers the first
/// and last eight only.
///
/// (Comparing every short key this way instead of calling `memcmp` was tried in the inspection
/// scan and measured no faster there: `memcmpEqual` keeps `memcmp`.)
enum ShortBytes {
    @inline(__always)
    static func signature(_ base: UnsafeRawPointer, count: Int) -> (UInt64, UInt64) {
        if count >= 8 {
            return (base.loadUnaligned(as: UInt64.self), (base + count - 8).loadUnaligned(as: UInt64.self))
        }
        if count >= 4 {
            return (UInt64(base.loadUnaligned(as: UInt32.self)), UInt64((base + count - 4).loadUnaligned(as: UInt32.self)))
        }
        if count == 0 { return (0, 0) }
        let first = UInt64(base.load(as: UInt8.self))
        let middle = UInt64(base.load(fromByteOffset: count / 2, as: UInt8.self))
        let last = UInt64(base.load(fromByteOffset: count - 1, as: UInt8.self))
        return (first | middle << 8 | last << 16, 0)
    }
}
