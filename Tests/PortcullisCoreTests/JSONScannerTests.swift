import NIOCore
import Testing

@testable import PortcullisCore

@Suite struct InferenceRequestTests {
    func inspect(_ text: String) -> Result<InferenceRequest, GatewayError> {
        InferenceRequest.inspect(ByteBuffer(string: text))
    }

    @Test func extractsModelStreamAndUsageOption() throws {
        let request = try inspect(
            #"{"messages":[{"role":"user","content":"hi \"there\""}],"model":"demo-chat","stream":true,"stream_options":{"include_usage":true},"max_tokens":12}"#
        ).get()
        #expect(request.model == "demo-chat")
        #expect(request.stream)
        #expect(request.includeUsage)
        #expect(request.maxTokens == 12)
    }

    @Test(arguments: [
        ("", "invalid_json"),
        ("{", "invalid_json"),
        (#"{"model":"a",}"#, "invalid_json"),
        (#"{"model":"a"} x"#, "invalid_json"),
        (#"{"model":'a'}"#, "invalid_json"),
        (#"{"model":"a\x"}"#, "invalid_json"),
        ("{\"model\":\"a\u{01}\"}", "invalid_json"),
        (#"{"model":01}"#, "invalid_json"),
        (#"{"model":1.}"#, "invalid_json"),
        (#"{"model":tru}"#, "invalid_json"),
        (#"[{"model":"a"}]"#, "invalid_json"),
        (#""model""#, "invalid_json"),
        (#"{}"#, "missing_model"),
        (#"{"model":null}"#, "invalid_type"),
        (#"{"model":42}"#, "invalid_type"),
        (#"{"model":""}"#, "invalid_type"),
        (#"{"model":["a"]}"#, "invalid_type"),
        (#"{"model":"a","model":"b"}"#, "duplicate_key"),
        (#"{"model":"a","mod\u0065l":"b"}"#, "duplicate_key"),
        (#"{"model":"a","stream":true,"stream":false}"#, "duplicate_key"),
        (#"{"model":"a","stream_options":{"include_usage":true,"include_usage":false}}"#, "duplicate_key"),
        (#"{"model":"a","stream":"yes"}"#, "invalid_type"),
        (#"{"model":"a","stream_options":3}"#, "invalid_type"),
        (#"{"model":"a","max_tokens":-1}"#, "invalid_type"),
        (#"{"model":"a","max_tokens":1.5}"#, "invalid_type"),
    ])
    func refuses(body: String, code: String) {
        guard case .failure(let error) = inspect(body) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(error.code == code, "\(body)")
        #expect(error.status == 400)
    }

    /// Token caps: whole numbers of at least 1, never wrapped; the error names the key at fault.
    @Test(arguments: [
        (#"{"model":"a","max_tokens":16.0}"#, nil, 16),
        (#"{"model":"a","max_tokens":1e2}"#, nil, 100),
        (#"{"model":"a","max_completion_tokens":7}"#, nil, 7),
        (#"{"model":"a","max_tokens":5,"max_completion_tokens":9}"#, nil, 9),
        (#"{"model":"a","max_tokens":null}"#, nil, nil),
        (#"{"model":"a","max_tokens":1e400}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":18446744073709551616}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":-1}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":0}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":1.5}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":"100"}"#, "max_tokens", nil),
        (#"{"model":"a","max_tokens":10,"max_completion_tokens":-2}"#, "max_completion_tokens", nil),
        (#"{"model":"a","max_tokens":-1e400}"#, "max_tokens", nil),
    ] as [(String, String?, Int?)])
    func tokenCapsAreWholeNumbersAndErrorsNameTheirKey(body: String, param: String?, value: Int?) {
        switch inspect(body) {
        case .success(let request):
            #expect(param == nil, "accepted \(body)")
            #expect(request.maxTokens == value)
        case .failure(let error):
            #expect(error.param == param, "\(body): \(error)")
            #expect(error.status == 400)
            if body.contains(":1e400") || body.contains("18446744073709551616") {
                #expect(error.code == "invalid_value" && error.message.contains("at most 9223372036854775807"))
            } else {
                #expect(error.code == "invalid_type", "\(body)")
            }
        }
    }

    /// Sampling parameters in the ranges the API defines; `n` a whole number of at least 1.
    @Test(arguments: [
        (#"{"model":"a","temperature":0,"top_p":1,"n":2}"#, nil, nil),
        (#"{"model":"a","temperature":2.0,"top_p":0.5,"n":1e0}"#, nil, nil),
        (#"{"model":"a","temperature":null,"top_p":null,"n":null}"#, nil, nil),
        (#"{"model":"a","temperature":2.01}"#, "temperature", "invalid_value"),
        (#"{"model":"a","temperature":-0.1}"#, "temperature", "invalid_value"),
        (#"{"model":"a","temperature":1e400}"#, "temperature", "invalid_value"),
        (#"{"model":"a","temperature":"1"}"#, "temperature", "invalid_type"),
        (#"{"model":"a","top_p":1.5}"#, "top_p", "invalid_value"),
        (#"{"model":"a","top_p":true}"#, "top_p", "invalid_type"),
        (#"{"model":"a","n":0}"#, "n", "invalid_type"),
        (#"{"model":"a","n":1.5}"#, "n", "invalid_type"),
        (#"{"model":"a","n":1e400}"#, "n", "invalid_value"),
        (#"{"model":"a","temperature":1,"temperature":0}"#, "temperature", "duplicate_key"),
    ] as [(String, String?, String?)])
    func samplingParametersAreInRange(body: String, param: String?, code: String?) {
        switch inspect(body) {
        case .success: #expect(param == nil, "accepted \(body)")
        case .failure(let error):
            #expect(error.param == param && error.code == code, "\(body): \(error.code) \(error.message)")
            #expect(error.status == 400)
        }
    }

    @Test func aDefaultCapIsSplicedAsTheFirstMember() throws {
        let body = ByteBuffer(string: #"  {"model":"a","messages":[]}"#)
        let request = try InferenceRequest.inspect(body).get()
        let out = request.inserting(.maxCompletionTokens, value: 256, in: body)
        #expect(String(buffer: out) == #"  {"max_completion_tokens":256,"model":"a","messages":[]}"#)
        let again = try InferenceRequest.inspect(out).get()
        #expect(again.maxTokens == 256 && again.maxTokensKey == .maxCompletionTokens)
    }

    @Test func modelParamIsNamed() {
        guard case .failure(let error) = inspect("{}") else { return }
        #expect(error.param == "model")
    }

    @Test func refusesInvalidUTF8AndLoneSurrogates() {
        var buffer = ByteBuffer(string: #"{"model":""#)
        buffer.writeBytes([0xC3, 0x28])
        buffer.writeString(#""}"#)
        guard case .failure = InferenceRequest.inspect(buffer) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        guard case .failure = inspect(#"{"model":"\ud800"}"#) else {
            Issue.record("accepted a lone surrogate as model")
            return
        }
    }

    /// A lone surrogate escape anywhere in the body (not just the model) is refused; a pair is
    /// a character and passes.
    @Test(arguments: [
        #"{"model":"m","messages":[{"role":"user","content":"\ud800"}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"\udc00 low first"}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"\ud800\u0041"}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"\ud800\n"}]}"#,
        #"{"model":"m","\ud800":1}"#,
    ])
    func refusesLoneSurrogatesAnywhere(body: String) {
        guard case .failure(let error) = inspect(body) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(error.code == "invalid_json")
        #expect(error.message.contains("lone surrogate"))
    }

    @Test func acceptsSurrogatePairs() throws {
        let request = try inspect(#"{"model":"m","messages":[{"role":"user","content":"\ud83d\ude00 \uD83D\uDE00"}]}"#).get()
        #expect(request.model == "m")
    }

    @Test func decodesEscapedModelNames() throws {
        let request = try inspect(#"{"model":"demo\u002dchat"}"#).get()
        #expect(request.model == "demo-chat")
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        let deep = String(repeating: "[", count: 100_000)
        guard case .failure(let error) = inspect(#"{"model":"a","x":\#(deep)}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.code == "invalid_json")
    }

    @Test func rewritesTheModelInPlace() throws {
        let body = ByteBuffer(string: #"{"a":1, "model" : "small", "b":[1,2]}"#)
        let request = try InferenceRequest.inspect(body).get()
        let rewritten = request.rewritingModel(in: body, to: "org/Big \"v2\"")
        #expect(String(buffer: rewritten) == #"{"a":1, "model" : "org/Big \"v2\"", "b":[1,2]}"#)
        let again = try InferenceRequest.inspect(rewritten).get()
        #expect(again.model == "org/Big \"v2\"")
    }

    @Test func acceptsValidJSONVariety() throws {
        let body = #"  {"model":"m","x":[1,-2.5e10,0.0,true,false,null,{"k":"\u00e9\n"}],"y":{},"z":[],"ü":"日本"}  "#
        #expect(try inspect(body).get().model == "m")
    }
}

@Suite struct JSONStringTests {
    @Test func escapesControlAndQuotes() {
        #expect(JSONString.quoted("a\"b\\c\n\u{01}") == #""a\"b\\c\n\u0001""#)
        // What viewers take for line breaks stays escaped; other text passes as it is.
        #expect(JSONString.quoted("x\u{7F}\u{85}\u{2028}y\u{2029}\u{A0}é€") == #""x\u007f\u0085\u2028y\u2029"# + "\u{A0}é€\"")
    }
}

/// The scanner's eight-bytes-at-a-time path for plain string bytes must see every byte the
/// byte-by-byte checks care about, at every position in the word.
@Suite struct JSONScannerWordTests {
    @Test func everySpecialByteIsSeenAtEveryPosition() {
        for value in 0...255 {
            let special = value == 0x22 || value == 0x5C || value < 0x20 || value >= 0x80
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(value)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(JSONScanner.hasSpecialByte(word) == special, "byte \(value) at \(position)")
            }
        }
    }

    /// The scan jumps to the lowest flagged byte: it must be the first special one, whatever
    /// the bytes above it (a borrow may flag those, never one below).
    @Test func theLowestFlaggedByteIsTheFirstSpecialOne() {
        var generator = SystemRandomNumberGenerator()
        for value in 0...255 {
            let special = value == 0x22 || value == 0x5C || value < 0x20 || value >= 0x80
            for position in 0..<8 {
                for _ in 0..<16 {
                    var bytes = (0..<8).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }.map { $0 == 0x22 || $0 == 0x5C ? UInt8(ascii: "a") : $0 }
                    bytes[position] = UInt8(value)
                    for above in (position + 1)..<8 where Bool.random(using: &generator) { bytes[above] = UInt8.random(in: 0...255, using: &generator) }
                    let word = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                    let mask = JSONScanner.specialBytes(word)
                    let first = bytes.firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || $0 >= 0x80 }
                    #expect((mask == 0 ? nil : mask.trailingZeroBitCount >> 3) == first, "byte \(value) at \(position) in \(bytes)")
                    if special { #expect(first == position) }
                }
            }
        }
    }

    @Test(arguments: Array(0..<24))
    func longStringsAreCheckedWhereverTheirSpecialBytesFall(offset: Int) {
        let prefix = String(repeating: "x", count: offset)
        func scan(_ inner: String) -> Bool {
            let body = #"{"k":""# + prefix + inner + String(repeating: "y", count: 17) + #""}"#
            return body.utf8.withContiguousStorageIfAvailable { bytes in
                var scanner = JSONScanner(UnsafeRawBufferPointer(bytes))
                return (try? scanner.scanTopLevelObject { _ in }) != nil
            } ?? false
        }
        #expect(scan(#"\"q\\"#))  // escapes: fine
        #expect(scan("\u{E9}\u{1F600}"))  // multi-byte UTF-8: fine
        #expect(!scan("\u{01}"))  // a control character
        #expect(!scan(#"\ud800"#))  // a lone surrogate escape
        #expect(!scan(#"\x"#))  // an invalid escape
        let broken = Array(#"{"k":""#.utf8) + Array(prefix.utf8) + [0xC3, 0x28] + Array(String(repeating: "y", count: 17).utf8) + Array(#""}"#.utf8)
        #expect(broken.withUnsafeBytes { bytes in
            var scanner = JSONScanner(bytes)
            return (try? scanner.scanTopLevelObject { _ in }) == nil
        }, "invalid UTF-8")
    }
}
