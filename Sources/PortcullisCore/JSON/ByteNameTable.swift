#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed list of names looked up by their bytes, for the keys of a request body: names are
/// bucketed by length and told apart by two integers loaded from their bytes
/// (``ShortBytes/signature(_:count:)``, exact up to 16 bytes), so a lookup builds no `String`,
/// hashes nothing and calls nothing (a `Set<String>` lookup per body member cost more than the
/// scan of the member). Only a name longer than 16 bytes whose signature matches has its
/// middle compared with `memcmp`.
///
/// Not generic on purpose: a generic type used from another module runs unspecialised. A final
/// class, so that handing a table around (a plan holds one, the field stage reads two per
/// request) retains one object instead of each of its arrays.
public final class ByteNameTable: Sendable {
    private struct Entry {
        /// The name's ``ShortBytes/signature(_:count:)``.
        let first: UInt64
        let last: UInt64
        /// Where the name's bytes start in ``storage``.
        let start: Int
        /// The name's position in the list given to `init`.
        let index: Int
    }

    /// Every name's bytes, shortest names first.
    private let storage: [UInt8]
    /// Per name, in `storage` order.
    private let entries: [Entry]
    /// Per length: the range of `entries` holding names of that length.
    private let byLength: [Range<Int>]

    /// `names[i]` is found as `i`; of a name given twice, the first.
    public init(_ names: [String]) {
        let sorted = names.enumerated().sorted { ($0.element.utf8.count, $0.offset) < ($1.element.utf8.count, $1.offset) }
        var storage: [UInt8] = []
        var entries: [Entry] = []
        var byLength: [Range<Int>] = Array(repeating: 0..<0, count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for (index, name) in sorted {
            let length = name.utf8.count
            let bucket = byLength[length]
            if bucket.contains(where: { storage[entries[$0].start..<(entries[$0].start + length)].elementsEqual(name.utf8) }) { continue }
            byLength[length] = (bucket.isEmpty ? entries.count : bucket.lowerBound)..<(entries.count + 1)
            let signature = Array(name.utf8).withUnsafeBytes { $0.isEmpty ? (0, 0) : ShortBytes.signature($0.baseAddress!, count: length) }
            entries.append(Entry(first: signature.0, last: signature.1, start: storage.count, index: index))
            storage.append(contentsOf: name.utf8)
        }
        self.storage = storage
        self.entries = entries
        self.byLength = byLength
    }

    /// The position of the name whose bytes are `bytes`, if the table has it.
    public func index(of bytes: UnsafeRawBufferPointer) -> Int? {
        let length = bytes.count
        guard length < self.byLength.count else { return nil }
        let bucket = self.byLength[length]
        guard !bucket.isEmpty else { return nil }
        let (first, last) = length == 0 ? (0, 0) : ShortBytes.signature(bytes.baseAddress!, count: length)
        return self.entries.withUnsafeBufferPointer { entries in
            for position in bucket where entries[position].first == first && entries[position].last == last {
                let entry = entries[position]
                if length <= 16 { return entry.index }
                let same = self.storage.withUnsafeBytes { storage in
                    memcmp(storage.baseAddress! + entry.start + 8, bytes.baseAddress! + 8, length - 16) == 0
                }
                if same { return entry.index }
            }
            return nil
        }
    }

    public func index(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { self.index(of: UnsafeRawBufferPointer($0)) }
    }
}
