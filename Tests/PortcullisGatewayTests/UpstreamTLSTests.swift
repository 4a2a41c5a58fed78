import Foundation
import PortcullisTestSupport
import Testing

/// TLS toward backends: https endpoints verified against the backend's CA, SNI by a configured
/// name, and the gateway's own client certificate for a backend that requires mTLS (the
/// backend here is a second gateway with `clientAuth: required`, in front of the mock).
@Suite struct UpstreamTLSTests {
    @Test func httpsUpstreamsAreVerifiedWithTheBackendsCA() async throws {
        try await withTLSGateway { front, mock, certificates in
            let yaml = """
                listeners: [{ address: 127.0.0.1:0 }]
                accessLog: { destination: "off" }
                backends:
                  secure:
                    endpoints: [https://localhost:\(front.port)]
                    tls: { ca: \(certificates.caPath) }
                  untrusted:
                    endpoints: [https://localhost:\(front.port)]
                routes:
                  - { match: { model: demo-chat }, backend: secure }
                  - { match: { model: untrusted }, backend: untrusted }
                """
            try await withHarness(yaml: yaml) { (edge: GatewayHarness) async throws in
                #expect(try await TestHTTP.chat(edge.baseURL).status == 200)
                let refused = try await TestHTTP.chat(edge.baseURL, model: "untrusted")
                #expect(refused.status == 502)
            }
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.count == 1)
        }
    }

    @Test func theGatewayProvesItselfToAnUpstreamThatRequiresMTLS() async throws {
        try await withTLSGateway(clientAuth: "required") { front, mock, certificates in
            let client = try certificates.issue(name: "edge", commonName: "edge-gateway", server: false)
            let yaml = """
                listeners: [{ address: 127.0.0.1:0 }]
                accessLog: { destination: "off" }
                backends:
                  proven:
                    endpoints: [https://127.0.0.1:\(front.port)]
                    tls: { ca: \(certificates.caPath), certificate: \(client.certificate), key: \(client.key), serverName: localhost }
                  anonymous:
                    endpoints: [https://localhost:\(front.port)]
                    tls: { ca: \(certificates.caPath) }
                routes:
                  - { match: { model: demo-chat }, backend: proven }
                  - { match: { model: anonymous }, backend: anonymous }
                """
            try await withHarness(yaml: yaml) { (edge: GatewayHarness) async throws in
                // SNI and verification by the configured name, though the endpoint is an IP address.
                #expect(try await TestHTTP.chat(edge.baseURL).status == 200)
                // Without the client certificate the upstream handshake is refused: 502, nothing forwarded.
                let refused = try await TestHTTP.chat(edge.baseURL, model: "anonymous")
                #expect(refused.status == 502)
            }
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
        }
    }
}
