import Foundation
import PortcullisTestSupport
import Testing

@Suite("The portcullis binary", .serialized)
struct BinaryTests {
    @Test func checkExitsZeroForAGoodConfigAndOneWithEveryProblem() async throws {
        try await withTemporaryDirectory { dir in
            let good = dir + "/good.yaml"
            try """
            listeners: [{ address: 127.0.0.1:0 }]
            backends: { b: { endpoints: [http://127.0.0.1:9] } }
            routes: [{ match: { model: m }, backend: b }]
            """.write(toFile: good, atomically: true, encoding: .utf8)
            let ok = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["check", "--config", good])
            #expect(try await ok.waitForExit() == 0)
            #expect(ok.capturedOutput.contains("OK"))

            let bad = dir + "/bad.yaml"
            try """
            listeners: [{ address: 127.0.0.1:0 }]
            backends: { b: { endpoints: [http://127.0.0.1:9] } }
            routes:
              - match: { model: m }
                backend: nope
                colour: blue
            """.write(toFile: bad, atomically: true, encoding: .utf8)
            let failed = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["check", "--config", bad])
            #expect(try await failed.waitForExit() == 1)
            let output = failed.capturedOutput
            #expect(output.contains("routes[0].colour (line 6): unknown key 'colour'"), "\(output)")
            #expect(output.contains("routes[0].backend"), "\(output)")
        }
    }

    @Test func helpDocumentsTheCommands() async throws {
        let help = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["--help"])
        #expect(try await help.waitForExit() == 0)
        for command in ["serve", "check", "mock"] {
            #expect(help.capturedOutput.contains(command))
        }
    }

    @Test func serveReloadsOnSIGHUPAndStopsOnSIGTERM() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let path = dir + "/gw.yaml"
            func write(models: [String]) throws {
                try testConfig(mockURL: mock.url, models: models).write(toFile: path, atomically: true, encoding: .utf8)
            }
            try write(models: ["first-model"])
            let gateway = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["serve", "--config", path])
            defer { gateway.terminate() }
            let banner = try await gateway.waitForLine(containing: "listening on http://")
            let port = try #require(banner.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
            let base = "http://127.0.0.1:\(port)"
            #expect(try await TestHTTP.chat(base, model: "first-model").status == 200)
            #expect(try await TestHTTP.chat(base, model: "second-model").status == 404)

            try write(models: ["second-model"])
            gateway.signal(SIGHUP)
            let reloaded = try await eventually { () -> Bool? in
                try await TestHTTP.chat(base, model: "second-model").status == 200 ? true : nil
            }
            #expect(reloaded)

            // A broken config is refused and the running one stays.
            try "listeners: [".write(toFile: path, atomically: true, encoding: .utf8)
            gateway.signal(SIGHUP)
            _ = try await gateway.waitForLine(containing: "reload refused")
            #expect(try await TestHTTP.chat(base, model: "second-model").status == 200)

            gateway.signal(SIGTERM)
            #expect(try await gateway.waitForExit() == 0)
        }
    }

    /// The banner's curl line asks for a credential when the config requires one (it would
    /// only earn a 401 without), and carries none when it does not. A SIGTERM right after it
    /// stops the gateway cleanly.
    @Test func theTryLineSaysWhenACredentialIsNeeded() async throws {
        try await withTemporaryDirectory { dir in
            let open = dir + "/open.yaml"
            let closed = dir + "/closed.yaml"
            try testConfig(mockURL: "http://127.0.0.1:9").write(toFile: open, atomically: true, encoding: .utf8)
            let keyed = "authentication:\n  apiKeys:\n    - { name: k, tenant: t, sha256: \(String(repeating: "ab", count: 32)) }"
            try testConfig(mockURL: "http://127.0.0.1:9", extra: keyed).write(toFile: closed, atomically: true, encoding: .utf8)
            for (path, needsKey) in [(open, false), (closed, true)] {
                let gateway = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["serve", "--config", path])
                defer { gateway.terminate() }
                let tryLine = try await gateway.waitForLine(containing: "Try: curl")
                #expect(tryLine.contains("authorization: Bearer $API_KEY") == needsKey, "\(tryLine)")
                // The banner is printed once the stop signals are trapped: a SIGTERM sent the
                // moment it appears drains and exits 0 (it used to be able to kill the process).
                gateway.signal(SIGTERM)
                #expect(try await gateway.waitForExit() == 0)
            }
        }
    }

    @Test func quickstartRunsWithNoArguments() async throws {
        let gateway = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: [])
        defer { gateway.terminate() }
        let tryLine = try await gateway.waitForLine(containing: "curl")
        #expect(tryLine.contains("http://127.0.0.1:8080/v1/chat/completions"))
        // The banner's curl line carries the demo API key; without it the gateway refuses.
        let key = try #require(tryLine.split(separator: "'").first { $0.hasPrefix("authorization: Bearer ") })
            .dropFirst("authorization: Bearer ".count)
        #expect(try await TestHTTP.chat("http://127.0.0.1:8080").status == 401)
        let reply = try await TestHTTP.chat("http://127.0.0.1:8080", extraHeaders: [("authorization", "Bearer \(key)")])
        #expect(reply.status == 200)
        #expect(reply.headers.first(name: "x-ratelimit-limit-requests") == "60")
        // The demo plan's limits are small enough to see: 60 a minute in bursts of 10, so a
        // quick burst meets a 429 by its 11th request (the README shows it).
        var refusal: TestHTTP.Reply?
        for _ in 0..<10 where refusal == nil {
            let next = try await TestHTTP.chat("http://127.0.0.1:8080", extraHeaders: [("authorization", "Bearer \(key)")])
            if next.status == 429 { refusal = next }
        }
        let limited = try #require(refusal, "no 429 in a burst of 11")
        #expect(limited.headers.first(name: "retry-after") == "1")
        #expect(limited.headers.first(name: "x-ratelimit-remaining-requests") == "0")
        #expect(limited.errorCode == "rate_limit_exceeded")
        let admin = try await TestHTTP.request("http://127.0.0.1:9901/healthz", method: .GET, headers: [])
        #expect(admin.status == 200)
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }
}
