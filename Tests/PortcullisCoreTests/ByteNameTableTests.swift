import PortcullisCore
import Testing

/// Names found by their bytes: every listed name at its position, nothing else (a prefix, a
/// longer name, another name of the same length, the empty name), the first of a name given twice.
@Suite struct ByteNameTableTests {
    @Test func everyNameIsFoundAtItsPositionAndNothingElse() {
        let names = ["n", "model", "input", "top_p", "messages", "tools", "max_completion_tokens", "model", ""]
        let table = ByteNameTable(names)
        for (index, name) in names.enumerated() {
            #expect(table.index(of: name) == names.firstIndex(of: name), "\(name) at \(index)")
        }
        for absent in ["m", "mode", "models", "MODEL", "top_q", "max_completion_tokens_", "nn", "é"] {
            #expect(table.index(of: absent) == nil, "\(absent)")
        }
        #expect(ByteNameTable([]).index(of: "x") == nil)
        #expect(ByteNameTable(["a"]).index(of: "") == nil)
        let bytes: [UInt8] = Array("tools".utf8)
        #expect(bytes.withUnsafeBytes { table.index(of: $0) } == 5)
    }

    /// Names of one length that share their first eight bytes differ only in the rest, which is
    /// compared byte by byte; names of exactly eight bytes are told apart by the first word.
    @Test func namesSharingTheirFirstEightBytesAreToldApart() {
        let names = ["max_completion_tokens", "max_completion_tokenz", "max_complXtion_tokens", "messages", "messagez", "top_logprobs", "top_logprobz"]
        let table = ByteNameTable(names)
        for (index, name) in names.enumerated() { #expect(table.index(of: name) == index, "\(name)") }
        for absent in ["max_completion_tokenx", "messagey", "top_logprob_", "max_completion_tokens\u{0}", "\u{0}essages", "messages\u{0}"] {
            #expect(table.index(of: absent) == nil, "\(absent)")
        }
        // A short name is not found by a key that adds zero bytes (the padding of its first word).
        let padded = ByteNameTable(["ab"])
        #expect(padded.index(of: "ab\u{0}") == nil)
        #expect(padded.index(of: "ab") == 0)
    }

    /// Past 16 bytes the middle is compared too: a change at either edge of it, or in the one
    /// middle byte of a 17-byte name, is another name.
    @Test func longNamesAreComparedInTheMiddleToo() {
        for length in [17, 18, 24, 33] {
            let name = String((0..<length).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
            let table = ByteNameTable(["x", name])
            #expect(table.index(of: name) == 1)
            for position in Set([8, length - 9, length / 2]) {
                var bytes = Array(name.utf8)
                bytes[position] = UInt8(ascii: "_")
                #expect(bytes.withUnsafeBytes { table.index(of: $0) } == nil, "length \(length), byte \(position)")
            }
        }
    }
}
