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
}
