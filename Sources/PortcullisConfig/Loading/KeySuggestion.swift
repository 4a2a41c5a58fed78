/// "Did you mean …?" for unknown config keys: the allowed key nearest by edit distance, after
/// folding case and dropping `_` and `-` (so `response_timeout` finds `responseTimeout`), and
/// only when it is near enough to be a typo rather than another word.
enum KeySuggestion {
    static func closest(to key: String, among allowed: [String]) -> String? {
        let folded = Self.fold(key)
        guard !folded.isEmpty else { return nil }
        var best: (String, Int)?
        for candidate in allowed {
            let distance = Self.distance(folded, Self.fold(candidate))
            if distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        // One edit per four characters, at least one: `responceTimeout` → `responseTimeout`, not `tls` → `ttl`s cousins.
        let allowedEdits = max(1, min(folded.count, Self.fold(candidate).count) / 4)
        return distance <= allowedEdits ? candidate : nil
    }

    static func fold(_ key: String) -> [UInt8] {
        key.utf8.compactMap { byte in
            if byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") { return nil }
            return (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
        }
    }

    /// Damerau–Levenshtein (optimal string alignment): insertions, deletions, substitutions and
    /// transpositions of neighbours each cost one.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    value = min(value, previous2[j - 2] + 1)
                }
                current[j] = value
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
