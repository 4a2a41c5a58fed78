import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import PortcullisGateway
import PortcullisTestSupport
import Testing

/// A TLS listener config with generated certificates; `clientAuth` and extra YAML vary per test.
func tlsYAML(
    mockURL: String, certificates: TestCertificates, clientAuth: String = "none", authentication: String = "",
    http2: String = "", reloadInterval: String = "5s", http: String = ""
) -> String {
    """
    listeners:
      - name: secure
        address: 127.0.0.1:0
        tls:
          certificate: \(certificates.directory)/server.pem
          key: \(certificates.directory)/server-key.pem
          clientCA: \(certificates.caPath)
          clientAuth: \(clientAuth)
          reloadInterval: \(reloadInterval)
        \(http2)
    accessLog: { destination: "off" }
    \(http)
    \(authentication)
    backends:
      mock: { endpoints: [\(mockURL)] }
    routes:
      - { match: { model: demo-chat }, backend: mock }
    """
}

func withTLSGateway(
    clientAuth: String = "none", authentication: String = "", http2: String = "", reloadInterval: String = "5s",
    mockArguments: [String] = [], http: String = "",
    _ body: (GatewayHarness, MockProcess, TestCertificates) async throws -> Void
) async throws {
    try await withTemporaryDirectory { dir in
        let certificates = try TestCertificates(directory: dir)
        try certificates.issueServer()
        let mock = try await MockProcess.start(mockArguments)
        defer { mock.stop() }
        let yaml = tlsYAML(
            mockURL: mock.url, certificates: certificates, clientAuth: clientAuth, authentication: authentication, http2: http2,
            reloadInterval: reloadInterval, http: http)
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            try await body(gateway, mock, certificates)
        }
    }
}

/// Minimal HTTP/2 framing for tests that must break the rules a real client library keeps.
enum RawFrames {
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        var header: [UInt8] = []
        header.append(UInt8((length >> 16) & 0xFF))
        header.append(UInt8((length >> 8) & 0xFF))
        header.append(UInt8(length & 0xFF))
        header.append(type)
        header.append(flags)
        header.append(UInt8((stream >> 24) & 0x7F))
        header.append(UInt8((stream >> 16) & 0xFF))
        header.append(UInt8((stream >> 8) & 0xFF))
        header.append(UInt8(stream & 0xFF))
        return header + payload
    }

    /// HPACK "literal header field without indexing, new name", no Huffman coding (short strings only).
    static func hpackLiterals(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out.append(UInt8(name.utf8.count))
            out.append(contentsOf: name.utf8)
            out.append(UInt8(value.utf8.count))
            out.append(contentsOf: value.utf8)
        }
        return out
    }

    static func parse(_ bytes: [UInt8]) -> [(type: UInt8, stream: UInt32, payload: [UInt8])] {
        var frames: [(UInt8, UInt32, [UInt8])] = []
        var i = 0
        while i + 9 <= bytes.count {
            let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + length <= bytes.count else { break }
            let stream = UInt32(bytes[i + 5] & 0x7F) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8 | UInt32(bytes[i + 8])
            frames.append((bytes[i + 3], stream, Array(bytes[(i + 9)..<(i + 9 + length)])))
            i += 9 + length
        }
        return frames
    }
}

func tlsChat(_ client: HTTPClient, port: Int, headers: [(String, String)] = [], stream: Bool = false, timeout: TimeAmount = .seconds(15)) async throws
    -> (status: Int, version: HTTPVersion, body: String)
{
    var request = HTTPClientRequest(url: "https://localhost:\(port)/v1/chat/completions")
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(string: #"{"model":"demo-chat","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#))
    let response = try await client.execute(request, timeout: timeout)
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), response.version, String(buffer: body))
}

@Suite("TLS, mTLS and HTTP/2 listeners", .serialized)
struct TLSTests {
    @Test func http1AndHTTP2OverTLSOnOnePort() async throws {
        try await withTLSGateway { gateway, mock, certificates in
            let (viaH2, streamed) = try await TLSClients.with(ca: certificates.caPath) { h2 in
                (try await tlsChat(h2, port: gateway.port), try await tlsChat(h2, port: gateway.port, stream: true))
            }
            let viaH1 = try await TLSClients.with(ca: certificates.caPath, http2: false) { h1 in
                try await tlsChat(h1, port: gateway.port)
            }
            #expect(viaH2.status == 200 && viaH2.version == .http2)
            #expect(viaH1.status == 200 && viaH1.version == .http1_1)
            #expect(streamed.body.contains("data: [DONE]"))
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.count == 3)
            #expect(recorded.allSatisfy { $0.recordedHeader("x-forwarded-proto") == ["https"] })
        }
    }

    @Test func mutualTLSRequiredRefusesHandshakesWithoutACertificateAndMapsSANsToTenants() async throws {
        let authentication = """
            authentication:
              clientCertificates:
                - { spiffe: "spiffe://example.org/tenant/acme/*", tenant: acme }
                - { dns: "client.beta.test", tenant: beta }
            """
        try await withTLSGateway(clientAuth: "required", authentication: authentication) { gateway, mock, certificates in
            let handshakeFailed = try await TLSClients.with(ca: certificates.caPath) { anonymous in
                (try? await tlsChat(anonymous, port: gateway.port, timeout: .seconds(3))) == nil
            }
            #expect(handshakeFailed, "a client without a certificate got through")

            let acmeCert = try certificates.issue(
                name: "acme-client", commonName: "acme workload", uris: ["spiffe://example.org/tenant/acme/worker-1"], server: false)
            let acmeStatus = try await TLSClients.with(ca: certificates.caPath, certificate: acmeCert.certificate, key: acmeCert.key) {
                try await tlsChat($0, port: gateway.port).status
            }
            #expect(acmeStatus == 200)

            let betaCert = try certificates.issue(name: "beta-client", commonName: "beta", dnsNames: ["client.beta.test"], server: false)
            let betaStatus = try await TLSClients.with(
                ca: certificates.caPath, certificate: betaCert.certificate, key: betaCert.key, http2: false
            ) { try await tlsChat($0, port: gateway.port).status }
            #expect(betaStatus == 200)

            // A certificate from another CA is refused at the handshake.
            try await withTemporaryDirectory { other in
                let foreignCA = try TestCertificates(directory: other, caName: "Elsewhere CA")
                let foreign = try foreignCA.issue(
                    name: "foreign", commonName: "x", uris: ["spiffe://example.org/tenant/acme/worker-1"], server: false)
                let refused = try await TLSClients.with(ca: certificates.caPath, certificate: foreign.certificate, key: foreign.key) {
                    (try? await tlsChat($0, port: gateway.port, timeout: .seconds(3))) == nil
                }
                #expect(refused, "a certificate from another CA got through")
            }

            let tenants = try await TestHTTP.recorded(mock.url).map { $0.recordedHeader("x-tenant-id") }
            #expect(tenants == [["acme"], ["beta"]])
        }
    }

    @Test func optionalClientCertificatesAndConflictsWithAPIKeys() async throws {
        let betaKey = "pc-beta-key-for-tls-tests"
        let authentication = """
            authentication:
              clientCertificates:
                - { commonName: "acme-cn", tenant: acme }
              apiKeys:
                - { name: beta, tenant: beta, sha256: \(AuthFixture.sha(betaKey)) }
            """
        try await withTLSGateway(clientAuth: "optional", authentication: authentication) { gateway, mock, certificates in
            let anonymous = try await TLSClients.with(ca: certificates.caPath) { client in
                [try await tlsChat(client, port: gateway.port).status,
                 try await tlsChat(client, port: gateway.port, headers: [("x-api-key", betaKey)]).status]
            }
            #expect(anonymous == [401, 200])

            let acmeCert = try certificates.issue(name: "acme", commonName: "acme-cn", server: false)
            let (plain, conflict) = try await TLSClients.with(
                ca: certificates.caPath, certificate: acmeCert.certificate, key: acmeCert.key
            ) { client in
                (try await tlsChat(client, port: gateway.port).status,
                 try await tlsChat(client, port: gateway.port, headers: [("x-api-key", betaKey)]))
            }
            #expect(plain == 200)
            #expect(conflict.status == 403)
            #expect(conflict.body.contains("identity_conflict"))
            #expect(try await TestHTTP.recorded(mock.url).map { $0.recordedHeader("x-tenant-id") } == [["beta"], ["acme"]])
        }
    }

    @Test func certificatesRotateWithoutARestart() async throws {
        try await withTLSGateway(reloadInterval: "200ms") { gateway, _, certificates in
            #expect(try await TLSClients.serverCommonName(port: gateway.port, ca: certificates.caPath) == "localhost")
            try certificates.issueServer(commonName: "rotated.localhost")
            let rotated = try await eventually { () -> Bool? in
                try await TLSClients.serverCommonName(port: gateway.port, ca: certificates.caPath) == "rotated.localhost" ? true : nil
            }
            #expect(rotated)
        }
    }

    @Test func aResetStreamCancelsItsUpstreamRequest() async throws {
        try await withTLSGateway(mockArguments: ["--chunks", "50", "--chunk-delay-ms", "100"]) { gateway, mock, certificates in
            let connection = try await RawHTTP2Connection.connect(port: gateway.port, ca: certificates.caPath)
            connection.openStream(1, body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            _ = try await eventually { () -> Bool? in
                connection.received.contains { if case .data = $0 { return true } else { return false } } ? true : nil
            }
            connection.reset(1)
            let stats = try await eventually { () -> Int? in
                let reply = try await TestHTTP.request(mock.url + "/__mock/stats", method: .GET, headers: [])
                let aborted = reply.json?["abortedStreams"] as? Int ?? 0
                return aborted > 0 ? aborted : nil
            }
            #expect(stats == 1)
            // The connection itself stays usable for the next stream.
            connection.openStream(3, body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            _ = try await eventually { () -> Bool? in
                connection.received.contains { payload in
                    if case .headers(let headers) = payload { return headers.headers.first(name: ":status") == "200" }
                    return false
                } ? true : nil
            }
            await connection.close()
        }
    }

    @Test func anHTTP2ConnectionWithAnOpenStreamOutlivesTheIdleTimeout() async throws {
        // Ten events 150 ms apart: the stream lasts three idle timeouts.
        try await withTLSGateway(mockArguments: ["--chunks", "10", "--chunk-delay-ms", "150"], http: "http: { idleTimeout: 500ms }") {
            gateway, _, certificates in
            let reply = try await TLSClients.with(ca: certificates.caPath) { client in
                try await tlsChat(client, port: gateway.port, stream: true)
            }
            #expect(reply.status == 200)
            #expect(reply.version.major == 2)
            #expect(reply.body.contains("[DONE]"))
        }
    }

    @Test func aGracefulStopSendsGOAWAYLetsStreamsFinishAndEndsWhatOutlivesTheDrain() async throws {
        try await withTemporaryDirectory { dir in
            let certificates = try TestCertificates(directory: dir)
            try certificates.issueServer()
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let probe = LedgerProbe()
            let gateway = try await GatewayHarness.start(
                yaml: tlsYAML(mockURL: mock.url, certificates: certificates), services: GatewayServices(ledgerProbe: probe))
            let connection = try await RawHTTP2Connection.connect(port: gateway.port, ca: certificates.caPath)
            // About half a second, and about ten seconds: the second outlives the two-second drain.
            connection.openStream(
                1, headers: [("x-request-id", "short"), ("x-mock-chunks", "4"), ("x-mock-chunk-delay-ms", "150")],
                body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            connection.openStream(
                3, headers: [("x-request-id", "long"), ("x-mock-chunks", "20"), ("x-mock-chunk-delay-ms", "500")],
                body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            func hasData(_ stream: Int) -> Bool {
                connection.frames(on: stream).contains { if case .data = $0 { return true } else { return false } }
            }
            _ = try await eventually { hasData(1) && hasData(3) ? true : nil }
            let stopping = Task { await gateway.stop() }
            _ = try await eventually { () -> Bool? in
                connection.received.contains { if case .goAway = $0 { return true } else { return false } } ? true : nil
            }
            let short = try await eventually { () -> String? in
                let frames = connection.frames(on: 1)
                let ended = frames.contains { if case .data(let data) = $0 { return data.endStream } else { return false } }
                guard ended else { return nil }
                return frames.compactMap { payload -> String? in
                    if case .data(let data) = payload, case .byteBuffer(let buffer) = data.data { return String(buffer: buffer) }
                    return nil
                }.joined()
            }
            #expect(short.contains("[DONE]"))
            await stopping.value
            let outcomes = Dictionary(zip(probe.requestIDs, probe.outcomes), uniquingKeysWith: { a, _ in a })
            #expect(outcomes["short"] == .completed)
            #expect(outcomes["long"] == .timedOut(.drain), "\(outcomes)")
            await connection.close()
        }
    }

    @Test func streamsWithoutAuthorityOrWithAnotherHostAreRefusedAndTheConnectionCarriesOn() async throws {
        try await withTLSGateway { gateway, mock, certificates in
            let connection = try await RawHTTP2Connection.connect(port: gateway.port, ca: certificates.caPath)
            connection.openStream(1, authority: nil, body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            _ = try await eventually { () -> Bool? in
                connection.frames(on: 1).contains { payload in
                    switch payload {
                    case .rstStream: return true
                    case .headers(let headers): return headers.headers.first(name: ":status") == "400"
                    default: return false
                    }
                } ? true : nil
            }
            // A `host` naming another entity than :authority is malformed too (RFC 9113 §8.3.1).
            connection.openStream(3, headers: [("host", "elsewhere.test")], body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            _ = try await eventually { () -> Bool? in
                connection.frames(on: 3).contains { payload in
                    if case .headers(let headers) = payload { return headers.headers.first(name: ":status") == "400" }
                    return false
                } ? true : nil
            }
            // The malformed streams spoil nothing else.
            connection.openStream(5, body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            _ = try await eventually { () -> Bool? in
                connection.frames(on: 5).contains { payload in
                    if case .headers(let headers) = payload { return headers.headers.first(name: ":status") == "200" }
                    return false
                } ? true : nil
            }
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
            await connection.close()
        }
    }

    @Test func rapidResetFloodsCloseTheConnection() async throws {
        try await withTLSGateway(http2: "http2: { maxResetsPerWindow: 20, resetWindow: 30s }") { gateway, _, certificates in
            let connection = try await RawHTTP2Connection.connect(port: gateway.port, ca: certificates.caPath)
            for i in 0..<200 {
                let id = 2 * i + 1
                connection.openStream(id)
                connection.reset(id)
                if connection.isClosed { break }
            }
            let closed = try await eventually { connection.isClosed ? true : nil }
            #expect(closed)
            let goAway = connection.received.contains { if case .goAway = $0 { return true } else { return false } }
            #expect(goAway)
        }
    }

    @Test func concurrentStreamsPerConnectionAreCapped() async throws {
        try await withTLSGateway(http2: "http2: { maxConcurrentStreams: 3 }") { gateway, _, certificates in
            let connection = try await RawHTTP2Connection.connect(port: gateway.port, ca: certificates.caPath)
            let advertised = try await eventually { () -> Int? in
                for payload in connection.received {
                    if case .settings(.settings(let settings)) = payload,
                        let limit = settings.first(where: { $0.parameter == .maxConcurrentStreams })
                    {
                        return limit.value
                    }
                }
                return nil
            }
            #expect(advertised == 3)
            await connection.close()
            // A well-behaved client queues streams over the limit, so speak raw HTTP/2 frames to
            // check the server refuses a fourth concurrent stream itself.
            let raw = try await RawConnection.connect(port: gateway.port, tlsCA: certificates.caPath, alpn: ["h2"])
            try await raw.send(bytes: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + RawFrames.frame(type: 0x4, flags: 0, stream: 0, payload: []))
            // The limit takes effect once the client acknowledges the server's SETTINGS.
            _ = try await eventually { RawFrames.parse(raw.bytes).contains { $0.type == 0x4 && !$0.payload.isEmpty } ? true : nil }
            func headers(_ id: UInt32) -> [UInt8] {
                RawFrames.frame(type: 0x1, flags: 0x4, stream: id, payload: RawFrames.hpackLiterals([
                    (":method", "POST"), (":scheme", "https"), (":path", "/v1/chat/completions"), (":authority", "localhost"),
                ]))
            }
            // Three open streams are fine: a PING after them is answered, the connection stays.
            let ping: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
            try await raw.send(
                bytes: RawFrames.frame(type: 0x4, flags: 0x1, stream: 0, payload: []) + headers(1) + headers(3) + headers(5)
                    + RawFrames.frame(type: 0x6, flags: 0, stream: 0, payload: ping))
            _ = try await eventually { RawFrames.parse(raw.bytes).contains { $0.type == 0x6 && $0.payload == ping } ? true : nil }
            #expect(!RawFrames.parse(raw.bytes).contains { $0.type == 0x7 || $0.type == 0x3 })
            // The fourth is over the limit.
            try await raw.send(bytes: headers(7))
            // NIOHTTP2 treats a stream over the advertised limit as a connection error: GOAWAY
            // (PROTOCOL_ERROR) and close, which RFC 9113 §5.1.2 allows.
            let goAway = try await eventually { () -> [UInt8]? in
                RawFrames.parse(raw.bytes).first { $0.type == 0x7 }?.payload
            }
            #expect(Array(goAway.suffix(4)) == [0, 0, 0, 1])
            #expect(try await raw.waitForClose())
            await raw.close()
        }
    }
}
