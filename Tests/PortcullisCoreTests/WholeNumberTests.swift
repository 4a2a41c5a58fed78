import Testing

@testable import PortcullisCore

@Suite struct WholeNumberTests {
    static func read(_ token: String) -> WholeNumber {
        var token = token
        return token.withUTF8 { WholeNumber(token: UnsafeRawBufferPointer($0)) }
    }

    @Test(arguments: [
        ("16", WholeNumber.value(16)), ("16.0", .value(16)), ("1e2", .value(100)), ("1E+2", .value(100)),
        ("1.5e1", .value(15)), ("100e-2", .value(1)), ("0.50e1", .value(5)), ("-0", .value(0)), ("0e999999", .value(0)),
        ("-3", .value(-3)), ("9223372036854775807", .value(Int.max)), ("-9223372036854775808", .value(Int.min)),
        ("1.5", .notWhole), ("1e-1", .notWhole), ("0.05", .notWhole), ("10.5", .notWhole), ("1e-400", .notWhole),
        ("9223372036854775808", .outOfRange), ("18446744073709551616", .outOfRange), ("1e400", .outOfRange),
        ("1e19", .outOfRange), ("-9223372036854775809", .outOfRange),
    ] as [(String, WholeNumber)])
    func readsWholeNumbersAsJSONSchemaCountsThem(token: String, expected: WholeNumber) {
        #expect(Self.read(token) == expected, "\(token)")
    }

    /// Long mantissas with exponents that cancel most of them: the scale stays exact.
    @Test func longMantissasKeepTheirScale() {
        let zeros = String(repeating: "0", count: 100_000)
        #expect(Self.read("0." + String(zeros.dropFirst()) + "1e200000") == .outOfRange)
        #expect(Self.read("1" + zeros + "e-200000") == .notWhole)
        #expect(Self.read("1" + zeros + "e-100000") == .value(1))
    }
}

/// The sampling parameters' number reader gives exactly what `strtod` gives, fast path or not.
@Suite struct SamplingNumberTests {
    @Test func everyTokenReadsAsStrtodReadsIt() {
        var tokens = ["0", "1", "2", "-0", "-0.0", "0.7", "0.1", "0.2", "0.9", "1.5", "2.0", "2.0000000000000001", "1.9999999999999999",
            "0.123456789012345", "0.1234567890123456", "123456789012345", "1234567890123456789", "1e0", "2E-1", "0.5e+1", "-1.25",
            "1.000000000000000", "0.000000000000001", "0.30000000000000004"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let whole = Int.random(in: 0...3, using: &generator)
            let places = Int.random(in: 0...17, using: &generator)
            let fraction = (0..<places).map { _ in String(Int.random(in: 0...9, using: &generator)) }.joined()
            tokens.append(places == 0 ? "\(whole)" : "\(whole).\(fraction)")
        }
        for token in tokens {
            let read = token.utf8.withContiguousStorageIfAvailable { InferenceRequest.double(UnsafeRawBufferPointer($0)) } ?? nil
            #expect(read == Double(token) && read?.sign == Double(token)?.sign, "\(token)")
        }
    }
}
