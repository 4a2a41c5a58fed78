import NIOCore
import Testing

@testable import PortcullisRedis

@Suite("RESP: parsing and encoding, without a socket")
struct RESPTests {
    let parser = RESPParser()

    private func parse(_ text: String) throws -> (RESPValue?, Int) {
        var buffer = ByteBuffer(string: text)
        let value = try self.parser.parse(&buffer)
        return (value, buffer.readableBytes)
    }

    @Test func everyTypeParses() throws {
        #expect(try self.parse("+OK\r\n").0 == .simpleString("OK"))
        #expect(try self.parse("-ERR bad\r\n").0 == .error("ERR bad"))
        #expect(try self.parse(":-42\r\n").0 == .integer(-42))
        #expect(try self.parse("$5\r\nhello\r\n").0 == .bulkString(ByteBuffer(string: "hello")))
        #expect(try self.parse("$0\r\n\r\n").0 == .bulkString(ByteBuffer()))
        #expect(try self.parse("$-1\r\n").0 == .bulkString(nil))
        #expect(try self.parse("*-1\r\n").0 == .array(nil))
        #expect(try self.parse("*2\r\n:1\r\n*1\r\n$1\r\nx\r\n").0 == .array([.integer(1), .array([.bulkString(ByteBuffer(string: "x"))])]))
    }

    @Test func aValueSplitAnywhereWaitsForTheRest() throws {
        let whole = "*3\r\n:1\r\n$4\r\nab\r\n\r\n+done\r\n"
        for cut in 0..<whole.utf8.count {
            var buffer = ByteBuffer(string: String(whole.utf8.prefix(cut))!)
            #expect(try self.parser.parse(&buffer) == nil, "a prefix of \(cut) bytes is not a value")
            #expect(buffer.readableBytes == cut, "and nothing is consumed")
        }
        var buffer = ByteBuffer(string: whole + ":7\r\n")
        #expect(try self.parser.parse(&buffer) == .array([.integer(1), .bulkString(ByteBuffer(string: "ab\r\n")), .simpleString("done")]))
        #expect(try self.parser.parse(&buffer) == .integer(7))
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [
        "!oops\r\n", ":12x\r\n", "$-2\r\n", "$3\r\nabcde\r\n", "*-5\r\n", "+ok\rx",
        "$\(RESPParser.maxBulkBytes + 1)\r\n", "*\(RESPParser.maxElements + 1)\r\n",
        String(repeating: "*1\r\n", count: RESPParser.maxDepth + 1) + ":1\r\n",
    ])
    func malformedRepliesAreProtocolErrors(_ text: String) {
        #expect(throws: RESPParser.ProtocolError.self) { try self.parse(text) }
    }

    @Test func anEndlessLineIsRefusedBeforeItEnds() {
        #expect(throws: RESPParser.ProtocolError.self) { try self.parse("+" + String(repeating: "a", count: RESPParser.maxLineBytes + 1)) }
    }

    @Test func commandsEncodeAsArraysOfBulkStrings() {
        var command = RESPCommand("SET")
        command.append("key")
        command.append("välue")
        command.append(42)
        #expect(String(buffer: command.encoded) == "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$6\r\nvälue\r\n$2\r\n42\r\n")
        var empty = RESPCommand("PING")
        empty.append("")
        #expect(String(buffer: empty.encoded) == "*2\r\n$4\r\nPING\r\n$0\r\n\r\n")
    }

    @Test func scriptAnswersAreRead() throws {
        let answer = RESPValue.array([.integer(2), .integer(1), .integer(4), .integer(1500), .integer(0), .integer(0), .integer(0), .integer(9), .integer(-1)])
        let (refused, verdicts) = try #require(RedisLimitScripts.verdicts(answer, count: 2))
        #expect(refused == 2)
        #expect(verdicts[0] == .init(allowed: true, remaining: 4, resetNanos: 1_500_000, retryAfterNanos: 0))
        #expect(verdicts[1] == .init(allowed: false, remaining: 0, resetNanos: 9000, retryAfterNanos: .max))
        #expect(RedisLimitScripts.verdicts(answer, count: 3) == nil, "a count that does not match is not trusted")
        #expect(RedisLimitScripts.verdicts(.error("ERR"), count: 2) == nil)
    }
}
