#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Byte-level helpers the JSON scanner and its readers share.

/// Whether two byte ranges hold the same bytes.
@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let x = a.baseAddress, let y = b.baseAddress else { return true }  // both empty
    return memcmp(x, y, a.count) == 0
}

/// Length of the well-formed UTF-8 sequence starting at `i`, or nil (Unicode Table 3-7).
func utf8SequenceLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int? {
    let b0 = bytes[i]
    let count = bytes.count
    @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
        i + k < count && bytes[i + k] >= lo && bytes[i + k] <= hi
    }
    switch b0 {
    case 0xC2...0xDF: return cont(1) ? 2 : nil
    case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : nil
    case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
    case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : nil
    case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : nil
    case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
    case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : nil
    default: return nil
    }
}
