import NIOCore
import PortcullisCore
import Testing

/// The default cap spliced into a body: exactly `"KEY":value` as the object's first member
/// (with a comma unless the object was empty), the rest of the bytes untouched, whatever the
/// key, the value's digits and sign, and where the buffer's readable bytes start.
@Suite struct BodyInsertionTests {
    @Test(arguments: [RequestKey.maxTokens, .maxCompletionTokens, .streamOptionsIncludeUsage])
    func theMemberIsWrittenFirstAndNothingElseChanges(key: RequestKey) {
        let bodies = [#"{}"#, #"{"model":"m"}"#, #"  {"a":[1,{"b":2}],"c":"d"}"#, "{ }"]
        let values = [0, 9, 10, 99, 1024, -1, -10, Int.max, Int.min]
        for text in bodies {
            let split = text.utf8.firstIndex(of: UInt8(ascii: "{")).map { text.utf8.distance(from: text.utf8.startIndex, to: $0) }! + 1
            let isEmpty = text.filter { $0 != " " } == "{}"
            for value in values {
                let expected = String(text.prefix(split)) + "\"\(key.name)\":\(value)" + (isEmpty ? "" : ",") + String(text.dropFirst(split))
                // Readable bytes starting at 0, and after bytes already read.
                var offset = ByteBuffer(string: "xyz" + text)
                offset.moveReaderIndex(forwardBy: 3)
                for body in [ByteBuffer(string: text), offset] {
                    let out = InferenceRequest.inserting(key, value: value, in: body, objectStart: split - 1, objectIsEmpty: isEmpty)
                    #expect(String(buffer: out) == expected, "\(text) \(value)")
                }
            }
        }
    }
}
