import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisTestSupport
import Testing

/// The built binary: the graceful stop, and start-up failures that say where.
@Suite("Drain and start-up of the portcullis binary", .serialized)
struct DrainAndStartupTests {
    static func serve(_ yaml: String, in dir: String, name: String = "gw.yaml", environment: [String: String]? = nil) throws -> ChildProcess {
        let path = dir + "/" + name
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["serve", "--config", path], environment: environment)
    }

    static func port(fromBanner banner: String) throws -> Int {
        let after = try #require(banner.components(separatedBy: "127.0.0.1:").dropFirst().first)
        return try #require(Int(after.prefix { $0.isNumber }))
    }

    @Test func sigtermLetsFiveStreamsFinishRefusesNewConnectionsAndExitsZero() async throws {
        try await withTemporaryDirectory { dir in
            // Ten events 200 ms apart: each stream lasts about two seconds.
            let mock = try await MockProcess.start(["--chunks", "10", "--chunk-delay-ms", "200"])
            defer { mock.stop() }
            let yaml = """
                listeners: [{ name: main, address: 127.0.0.1:0 }]
                admin: { address: 127.0.0.1:0 }
                accessLog: { destination: "off" }
                http: { drainTimeout: 20s }
                backends:
                  mock: { endpoints: [\(mock.url)] }
                routes: [{ match: { model: demo-chat }, backend: mock }]
                """
            let gateway = try Self.serve(yaml, in: dir)
            defer { gateway.terminate() }
            let banner = try await gateway.waitForLine(containing: "listening on http://")
            let port = try Self.port(fromBanner: banner)
            let adminPort = try #require(banner.components(separatedBy: "admin on port ").last.flatMap { Int($0.prefix { $0.isNumber }) })
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#
            var streams: [RawConnection] = []
            for n in 0..<5 {
                let connection = try await RawConnection.connect(port: port)
                try await connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: drain-\(n)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                streams.append(connection)
            }
            for stream in streams { _ = try await stream.waitFor("data: {") }
            // A kept-alive idle connection, and one whose head is half in when the stop begins.
            let idle = try await RawConnection.connect(port: port)
            try await idle.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await idle.waitFor("\"list\"")
            let halfway = try await RawConnection.connect(port: port)
            try await halfway.send("GET /v1/models HTTP/1.1\r\nHo")
            let readyBefore = try await TestHTTP.request("http://127.0.0.1:\(adminPort)/readyz", method: .GET, headers: [])
            #expect(readyBefore.status == 200)

            gateway.signal(SIGTERM)
            _ = try await gateway.waitForLine(containing: "draining")
            // Draining: not ready, and no new connection is accepted.
            let readyDuring = try await TestHTTP.request("http://127.0.0.1:\(adminPort)/readyz", method: .GET, headers: [])
            #expect(readyDuring.status == 503)
            #expect(readyDuring.json?["status"] as? String == "draining")
            await #expect(throws: (any Error).self) { _ = try await RawConnection.connect(port: port) }
            #expect(try await idle.waitForClose(timeout: .seconds(5)), "an idle kept-alive connection stayed open")
            try await halfway.send("st: x\r\n\r\n")
            let answer = try await halfway.waitFor("\"list\"")
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(answer.contains("connection: close"))

            for (n, stream) in streams.enumerated() {
                let text = try await stream.waitFor("data: [DONE]", timeout: .seconds(15))
                #expect(text.contains("data: [DONE]"), "stream \(n) was cut")
                // Its head went out before the stop, so the connection simply ends after the response.
                #expect(try await stream.waitForClose(timeout: .seconds(5)), "stream \(n) stayed open")
            }
            #expect(try await gateway.waitForExit() == 0)
        }
    }

    @Test func aBusyPortNamesTheListenerAndItsAddress() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let yaml = """
                listeners: [{ name: public, address: "127.0.0.1:\(mock.port)" }]
                backends: { b: { endpoints: [http://127.0.0.1:9] } }
                routes: [{ match: { model: m }, backend: b }]
                """
            let gateway = try Self.serve(yaml, in: dir)
            #expect(try await gateway.waitForExit() == 1)
            let output = gateway.capturedOutput
            #expect(output.contains("listeners[0] (public): cannot listen on 127.0.0.1:\(mock.port): Address already in use"), "\(output)")
        }
    }

    @Test func aMissingCertificateNamesTheFileBeforeAnythingStarts() async throws {
        try await withTemporaryDirectory { dir in
            let yaml = """
                listeners:
                  - name: secure
                    address: 127.0.0.1:0
                    tls: { certificate: certs/missing.pem, key: certs/missing-key.pem }
                backends: { b: { endpoints: [http://127.0.0.1:9] } }
                routes: [{ match: { model: m }, backend: b }]
                """
            let gateway = try Self.serve(yaml, in: dir)
            #expect(try await gateway.waitForExit() == 1)
            let output = gateway.capturedOutput
            // Relative paths resolve against the config's folder, and the message says which file.
            #expect(output.contains("listeners[0].tls.certificate (line 4): cannot read certificate '\(dir)/certs/missing.pem': no such file"), "\(output)")
            #expect(output.contains("listeners[0].tls.key (line 4): cannot read private key '\(dir)/certs/missing-key.pem': no such file"), "\(output)")
        }
    }

    @Test func readinessNamesTheKeySetItWaitsForAndTheLogSaysNoneHasArrived() async throws {
        try await withTemporaryDirectory { dir in
            let yaml = """
                listeners: [{ name: main, address: 127.0.0.1:0 }]
                admin: { address: 127.0.0.1:0 }
                authentication:
                  jwt:
                    - name: corp-idp
                      issuer: https://idp.test/
                      audiences: [portcullis]
                      jwks: { uri: "http://127.0.0.1:1/jwks.json", timeout: 500ms, refresh: 1s }
                backends: { b: { endpoints: [http://127.0.0.1:9] } }
                routes: [{ match: { model: m }, backend: b }]
                """
            let gateway = try Self.serve(yaml, in: dir)
            defer { gateway.terminate() }
            let banner = try await gateway.waitForLine(containing: "admin on port")
            let adminPort = try #require(banner.components(separatedBy: "admin on port ").last.flatMap { Int($0.prefix { $0.isNumber }) })
            let ready = try await TestHTTP.request("http://127.0.0.1:\(adminPort)/readyz", method: .GET, headers: [])
            #expect(ready.status == 503)
            #expect(ready.json?["waitingFor"] as? [String] == ["jwks:corp-idp"], "\(ready.body)")
            let line = try await gateway.waitForLine(containing: "JWKS fetch failed")
            #expect(line.contains("no key set has arrived yet"), "\(line)")
            #expect(!line.contains("keeping the last good key set"))
            gateway.signal(SIGTERM)
            #expect(try await gateway.waitForExit() == 0)
        }
    }
}
