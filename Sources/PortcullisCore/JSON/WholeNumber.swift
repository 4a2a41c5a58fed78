/// A JSON number read as a whole number, the way JSON Schema counts integers: `16`, `16.0`,
/// `1e2` and `1.5e1` are whole (16, 16, 100, 15); `1.5` and `1e-1` are not; a whole number
/// beyond `Int` (`18446744073709551616`, `1e400`) is too large rather than wrapped or rounded.
public enum WholeNumber: Sendable, Equatable {
    case value(Int)
    /// Not a number, or a number with a fractional part.
    case notWhole
    /// A whole number outside `Int.min...Int.max`.
    case outOfRange

    /// Reads the JSON number token `bytes` (already validated by ``JSONScanner``).
    public init(token bytes: UnsafeRawBufferPointer) {
        var i = 0
        let count = bytes.count
        var negative = false
        if i < count && bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        // Significant digits (integer part, then fraction), and the power of ten they are scaled by.
        var digits: [UInt8] = []
        var scale = 0
        while i < count, let digit = Self.digit(bytes[i]) {
            if !(digits.isEmpty && digit == 0) { digits.append(digit) }
            i += 1
        }
        if i < count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < count, let digit = Self.digit(bytes[i]) {
                if !(digits.isEmpty && digit == 0) { digits.append(digit) }
                scale -= 1
                i += 1
            }
        }
        if i < count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            var exponentNegative = false
            if i < count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) {
                exponentNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var exponent = 0
            while i < count, let digit = Self.digit(bytes[i]) {
                // Clamped far beyond any body's digit count (so the scale stays exact) and far
                // below overflow.
                exponent = min(exponent * 10 + Int(digit), 1 << 40)
                i += 1
            }
            scale += exponentNegative ? -exponent : exponent
        }
        guard i == count else {
            self = .notWhole
            return
        }
        // Leading zeros were never kept; trailing zeros only scale.
        while let last = digits.last, last == 0 {
            digits.removeLast()
            scale += 1
        }
        if digits.isEmpty {
            self = .value(0)
            return
        }
        // A fractional part is left when the scale would divide the last significant digit.
        let fractionDigits = scale < 0 ? -scale : 0
        if fractionDigits > 0 {
            self = .notWhole
            return
        }
        guard digits.count + scale <= 19 else {
            self = .outOfRange
            return
        }
        var magnitude: UInt64 = 0
        for digit in digits { magnitude = magnitude * 10 + UInt64(digit) }
        for _ in 0..<scale {
            let (m, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            if overflow {
                self = .outOfRange
                return
            }
            magnitude = m
        }
        if negative {
            guard magnitude <= UInt64(Int.max) + 1 else {
                self = .outOfRange
                return
            }
            self = .value(magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(magnitude))
        } else {
            guard magnitude <= UInt64(Int.max) else {
                self = .outOfRange
                return
            }
            self = .value(Int(magnitude))
        }
    }

    @inline(__always)
    private static func digit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }
}
