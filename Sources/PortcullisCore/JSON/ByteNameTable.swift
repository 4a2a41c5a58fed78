/// A fixed list of names looked up by their bytes, for the keys of a request body: names are
/// bucketed by length and compared with `memcmp`, so a lookup builds no `String` and hashes
/// nothing (a `Set<String>` lookup per body member cost more than the scan of the member).
/// Not generic on purpose: a generic type used from another module runs unspecialised. The
/// names sit in one byte array, so a lookup touches two arrays, whatever it compares.
public struct ByteNameTable: Sendable {
    /// Every name's bytes, shortest names first.
    private let storage: [UInt8]
    /// Per name, in `storage` order: where its bytes start, and its position in the given list.
    private let entries: [(start: Int, index: Int)]
    /// Per length: the range of `entries` holding names of that length.
    private let byLength: [Range<Int>]

    /// `names[i]` is found as `i`; of a name given twice, the first.
    public init(_ names: [String]) {
        let sorted = names.enumerated().sorted { ($0.element.utf8.count, $0.offset) < ($1.element.utf8.count, $1.offset) }
        var storage: [UInt8] = []
        var entries: [(start: Int, index: Int)] = []
        var byLength: [Range<Int>] = Array(repeating: 0..<0, count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for (index, name) in sorted {
            let length = name.utf8.count
            let bucket = byLength[length]
            if bucket.contains(where: { storage[entries[$0].start..<(entries[$0].start + length)].elementsEqual(name.utf8) }) { continue }
            byLength[length] = (bucket.isEmpty ? entries.count : bucket.lowerBound)..<(entries.count + 1)
            entries.append((storage.count, index))
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
        return self.storage.withUnsafeBytes { storage in
            for position in bucket {
                let entry = self.entries[position]
                if memcmpEqual(UnsafeRawBufferPointer(rebasing: storage[entry.start..<(entry.start + length)]), bytes) { return entry.index }
            }
            return nil
        }
    }

    public func index(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { self.index(of: UnsafeRawBufferPointer($0)) }
    }
}
