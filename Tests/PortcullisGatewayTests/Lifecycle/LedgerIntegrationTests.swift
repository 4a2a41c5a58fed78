import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import PortcullisCore
import PortcullisGateway
import PortcullisTestSupport
import Testing

/// The ledger over real sockets: a bounded run of a few thousand requests across every exit
/// path (success, each kind of refusal, a client leaving mid-stream, a backend's 500, a backend
/// too slow to answer, an HTTP/2 stream reset, a stage whose wait runs out). Afterwards every
/// exchange settled exactly once, nothing is in flight, and the access log has one line per
/// request.
@Suite("The request ledger over real sockets", .serialized)
struct LedgerIntegrationTests {
    enum Kind: CaseIterable {
        case ok, okStream, noKey, badJSON, unknownModel, wrongMethod, tooLarge, upstream500, upstreamSlow, clientAbort, streamReset,
            waitRunsOut, waitFails

        /// How many of each (bounded: a few thousand in all).
        var count: Int {
            switch self {
            case .ok: 1200
            case .okStream: 200
            case .noKey, .badJSON, .unknownModel: 250
            case .wrongMethod, .tooLarge, .upstream500: 100
            case .upstreamSlow: 12
            case .clientAbort: 40
            case .streamReset: 20
            case .waitRunsOut, .waitFails: 6
            }
        }
    }

    @Test func everyExitPathSettlesItsLedgerExactlyOnce() async throws {
        try await withTemporaryDirectory { dir in
            let certificates = try TestCertificates(directory: dir)
            try certificates.issueServer()
            let key = try TestSigningKey.rsa(kid: "k1")
            let jwks = try await JWKSServer.start(keys: [key.jwk(alg: "RS256")])
            let failingJWKS = try await JWKSServer.start(keys: [key.jwk(alg: "RS256")])
            let mock = try await MockProcess.start(["--chunks", "4", "--chunk-delay-ms", "5"])
            defer { mock.stop() }
            let log = dir + "/access.log"
            let yaml = """
                listeners:
                  - { name: main, address: 127.0.0.1:0 }
                  - name: secure
                    address: 127.0.0.1:0
                    tls: { certificate: \(certificates.directory)/server.pem, key: \(certificates.directory)/server-key.pem }
                accessLog: { destination: \(log) }
                http: { maxRequestBytes: 4KiB }
                authentication:
                  apiKeys: [{ name: k, tenant: acme, sha256: \(AuthFixture.sha(AuthFixture.acmeKey)) }]
                  jwt:
                    - name: idp
                      issuer: https://idp.test/
                      audiences: [portcullis]
                      algorithms: [RS256]
                      jwks: { uri: "\(jwks.url)", refresh: 1h, minRefetchInterval: 1ms, timeout: 10m, refetchWait: 200ms }
                      claims: { tenant: tenant }
                    - name: idp2
                      issuer: https://idp2.test/
                      audiences: [portcullis]
                      algorithms: [RS256]
                      jwks: { uri: "\(failingJWKS.url)", refresh: 1h, minRefetchInterval: 1ms, timeout: 5s, refetchWait: 3s }
                      claims: { tenant: tenant }
                backends:
                  mock: { endpoints: [\(mock.url)], responseTimeout: 3s }
                routes: [{ match: { model: demo-chat }, backend: mock }]
                """
            let probe = LedgerProbe()
            let gateway = try await GatewayHarness.start(yaml: yaml, services: GatewayServices(ledgerProbe: probe))
            do {
                _ = try await eventually { gateway.runtime.isReady ? true : nil }
                // From now on the issuer accepts requests and never answers: a token naming a
                // new key makes its request wait for a refetch that cannot finish in time.
                jwks.hang()
                // The second issuer answers every refetch with an error: the wait fails at once.
                failingJWKS.setRaw(status: 500, body: "down")
                let base = gateway.baseURL
                let securePort = gateway.runtime.listenerPorts[1]
                let unknownKid = try key.sign(testClaims(), alg: "RS256", kid: "k-rotated")
                let unknownKidOfFailing = try key.sign(testClaims(issuer: "https://idp2.test/"), alg: "RS256", kid: "k-rotated")

                var work: [(Kind, String)] = []
                for kind in Kind.allCases {
                    for n in 0..<kind.count { work.append((kind, "L-\(kind)-\(n)")) }
                }
                work.shuffle()
                let queue = WorkQueue(work)
                let key = [("x-api-key", AuthFixture.acmeKey)]
                let h2 = try await RawHTTP2Connection.connect(port: securePort, ca: certificates.caPath)
                let nextStream = Counter(start: 1, step: 2)
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<12 {
                        group.addTask {
                            while let (kind, id) = queue.next() {
                                let headers = key + [("x-request-id", id)]
                                switch kind {
                                case .ok:
                                    let reply = try await TestHTTP.chat(base, extraHeaders: headers)
                                    #expect(reply.status == 200)
                                case .okStream:
                                    let reply = try await TestHTTP.chat(base, stream: true, extraHeaders: headers)
                                    #expect(reply.body.contains("[DONE]"))
                                case .noKey:
                                    #expect(try await TestHTTP.chat(base, extraHeaders: [("x-request-id", id)]).status == 401)
                                case .badJSON:
                                    let reply = try await TestHTTP.request(
                                        base + "/v1/chat/completions", headers: headers + [("content-type", "application/json")], body: "{")
                                    #expect(reply.status == 400)
                                case .unknownModel:
                                    #expect(try await TestHTTP.chat(base, model: "nope", extraHeaders: headers).status == 404)
                                case .wrongMethod:
                                    let reply = try await TestHTTP.request(base + "/v1/chat/completions", method: .GET, headers: headers)
                                    #expect(reply.status == 405)
                                case .tooLarge:
                                    let reply = try await TestHTTP.request(
                                        base + "/v1/chat/completions", headers: headers,
                                        body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"x":""# + String(repeating: "a", count: 5000) + #""}"#)
                                    #expect(reply.status == 413)
                                case .upstream500:
                                    #expect(try await TestHTTP.chat(base, extraHeaders: headers + [("x-mock-status", "500")]).status == 500)
                                case .upstreamSlow:
                                    #expect(try await TestHTTP.chat(base, extraHeaders: headers + [("x-mock-delay-ms", "8000")]).status == 504)
                                case .clientAbort:
                                    let connection = try await RawConnection.connect(port: gateway.port)
                                    let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#
                                    try await connection.send(
                                        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-api-key: \(AuthFixture.acmeKey)\r\n"
                                            + "x-request-id: \(id)\r\nx-mock-chunk-delay-ms: 200\r\nx-mock-chunks: 50\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                                    _ = try await connection.waitFor("data: {")
                                    await connection.close()
                                case .streamReset:
                                    let stream = nextStream.next()
                                    h2.openStream(
                                        stream, headers: key + [("x-request-id", id), ("x-mock-chunk-delay-ms", "200"), ("x-mock-chunks", "50")],
                                        body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
                                    _ = try await eventually { () -> Bool? in
                                        h2.frames(on: stream).contains { if case .data = $0 { return true } else { return false } } ? true : nil
                                    }
                                    h2.reset(stream)
                                case .waitRunsOut, .waitFails:
                                    let token = kind == .waitRunsOut ? unknownKid : unknownKidOfFailing
                                    let reply = try await TestHTTP.chat(
                                        base, extraHeaders: [("authorization", "Bearer \(token)"), ("x-request-id", id)])
                                    #expect(reply.status == 503)
                                    #expect(reply.errorCode == "auth_unavailable")
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(ContinuousClock.now - started < .seconds(300))
                await h2.close()

                let total = work.count
                _ = try await eventually(timeout: .seconds(20)) { probe.count >= total ? true : nil }
                #expect(probe.count == total, "settlements")
                let settledIDs = probe.requestIDs
                #expect(Set(settledIDs).count == settledIDs.count, "an exchange settled twice")
                #expect(Set(settledIDs) == Set(work.map(\.1)))
                _ = try await eventually { await gateway.runtime.inFlight() == 0 ? true : nil }

                let lines = try await eventually { () -> [String]? in
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    let lines = text.split(separator: "\n").map(String.init)
                    return lines.count >= total ? lines : nil
                }
                #expect(lines.count == total, "access-log lines")
                let logged = lines.compactMap { line -> [String: Any]? in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                }
                let loggedIDs = logged.compactMap { $0["id"] as? String }
                #expect(Set(loggedIDs) == Set(work.map(\.1)))
                // Aborts say who went away.
                let abortByID = Dictionary(logged.map { ($0["id"] as? String ?? "", $0["abort"] as? String ?? "-") }, uniquingKeysWith: { a, _ in a })
                #expect(work.filter { $0.0 == .streamReset }.allSatisfy { abortByID[$0.1] == "stream_reset" })
                #expect(work.filter { $0.0 == .clientAbort }.allSatisfy { abortByID[$0.1] == "client_closed" })

                // Each path ended the way it should have.
                let byID = Dictionary(zip(settledIDs, probe.outcomes), uniquingKeysWith: { a, _ in a })
                func outcomes(_ kind: Kind) -> [Outcome] { work.filter { $0.0 == kind }.compactMap { byID[$0.1] } }
                for kind in Kind.allCases { #expect(outcomes(kind).count == kind.count, "\(kind)") }
                #expect(outcomes(.ok).allSatisfy { $0 == .completed })
                #expect(outcomes(.upstream500).allSatisfy { $0 == .completed })
                #expect(outcomes(.noKey).allSatisfy { $0 == .refused(.unauthenticated) })
                #expect(outcomes(.tooLarge).allSatisfy { $0 == .refused(.bodyTooLarge) })
                #expect(outcomes(.upstreamSlow).allSatisfy { $0 == .timedOut(.upstreamResponse) })
                #expect(outcomes(.clientAbort).allSatisfy { $0 == .clientAborted(.streaming) })
                #expect(outcomes(.streamReset).allSatisfy { $0 == .clientAborted(.streaming) })
                #expect(outcomes(.waitRunsOut).allSatisfy { $0 == .timedOut(.suspension) })
                #expect(outcomes(.waitFails).allSatisfy { $0 == .refused(.authUnavailable) })
                await gateway.stop()
                await jwks.stop()
                await failingJWKS.stop()
            } catch {
                await gateway.stop()
                await jwks.stop()
                await failingJWKS.stop()
                throw error
            }
        }
    }
}

/// Work items handed out to concurrent workers, each once.
final class WorkQueue<Item: Sendable>: Sendable {
    private let items: NIOLockedValueBox<[Item]>

    init(_ items: [Item]) {
        self.items = NIOLockedValueBox(items.reversed())
    }

    func next() -> Item? {
        self.items.withLockedValue { $0.popLast() }
    }
}

/// A thread-safe counter of stream ids.
final class Counter: Sendable {
    private let value: NIOLockedValueBox<Int>
    private let step: Int

    init(start: Int, step: Int) {
        self.value = NIOLockedValueBox(start)
        self.step = step
    }

    func next() -> Int {
        self.value.withLockedValue { value in
            defer { value += self.step }
            return value
        }
    }
}

import NIOConcurrencyHelpers
