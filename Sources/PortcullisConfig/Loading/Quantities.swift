/// Parsers for the config's human-friendly quantities.
public enum Quantities {
    /// `250ms`, `10s`, `5m`, `1h`, `1.5s`; `0` means zero. Returns nanoseconds.
    public static func parseDuration(_ text: String) -> Int64? {
        let trimmed = text.trimmingSpaces
        if trimmed == "0" { return 0 }
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                let value = Double(number), value.isFinite, value >= 0, value * scale < 9.2e18
            else { return nil }
            return Int64(value * scale)
        }
        return nil
    }

    /// `25`, `2.50`, `0.000125` dollars (at most six decimals, at most a trillion). Returns µUSD,
    /// parsed as digits, not through a double, so `0.1` is exactly 100,000.
    public static func parseDollars(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces
        let parts = trimmed.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy({ $0.isASCII && $0.isNumber }),
            let dollars = Int(whole)
        else { return nil }
        var micros = dollars * 1_000_000
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 6, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            micros += Int(fraction + String(repeating: "0", count: 6 - fraction.count))!
        }
        return micros
    }

    /// `65536`, `64KiB`, `1MiB`, `1GiB`, `64KB`, `1MB` (KB/MB are decimal). Returns bytes.
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces
        if let plain = Int(trimmed), plain >= 0 { return plain }
        let units: [(String, Int)] = [
            ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024), ("KB", 1000), ("MB", 1_000_000),
            ("GB", 1_000_000_000), ("B", 1),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let value = Int(trimmed.dropLast(suffix.count).trimmingSpaces), value >= 0 else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return nil
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
