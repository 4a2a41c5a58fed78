import Foundation
import PortcullisTestSupport
import Testing

/// What the gateway adds toward a backend, over real sockets with a `portcullis mock` process:
/// the backend's own credential (injected, re-read on reload, never returned to a client or
/// shown by `/config`), static header edits that cannot touch the trusted identity, a
/// backend's 401 to the gateway's credential answered as 502, other error bodies scrubbed,
/// and the catch-all route.
@Suite struct BackendCredentialTests {
    static let secret = "sk-backend-0123456789abcdef"
    static let rotated = "sk-rotated-fedcba9876543210"

    static func config(mockURL: String, meshURL: String, secretFile: String) -> String {
        """
        listeners:
          - name: main
            address: 127.0.0.1:0
        admin: { address: 127.0.0.1:0 }
        accessLog: { destination: "off" }
        backends:
          provider:
            endpoints: [\(mockURL)]
            credential: { header: authorization, prefix: "Bearer ", file: \(secretFile) }
            headers:
              set: { anthropic-version: "2023-06-01" }
              add: { x-gateway: portcullis }
              remove: [x-debug]
          mesh:
            endpoints: [\(meshURL)]
        routes:
          - name: chat
            match: { model: demo-chat }
            backend: provider
            headers: { set: { x-route: chat } }
          - name: rest
            match: { catchAll: true }
            backend: mesh
        """
    }

    /// The gateway in front of two mock processes: `provider` (with a credential) and the catch-all's `mesh`.
    func withCredentialGateway(_ body: (GatewayHarness, MockProcess, MockProcess, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let secretFile = directory + "/provider-key"
            try (Self.secret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let mesh = try await MockProcess.start()
            defer { mesh.stop() }
            let configPath = directory + "/gateway.yaml"
            try Self.config(mockURL: mock.url, meshURL: mesh.url, secretFile: secretFile)
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            let gateway = try await GatewayHarness.start(configPath: configPath)
            do {
                try await body(gateway, mock, mesh, secretFile)
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }

    @Test func theCredentialAndEditsReachTheBackendAndTheClientsNever() async throws {
        try await withCredentialGateway { gateway, mock, _, secretFile in
            let reply = try await TestHTTP.chat(
                gateway.baseURL,
                extraHeaders: [
                    ("authorization", "Bearer client-own-key"), ("anthropic-version", "1999-01-01"), ("x-gateway", "client"),
                    ("x-debug", "1"), ("x-tenant-id", "forged"), ("x-route", "client"),
                ])
            #expect(reply.status == 200)
            #expect(!reply.body.contains(Self.secret) && !reply.headers.description.contains(Self.secret))
            let recorded = try await TestHTTP.recorded(mock.url)
            let request = try #require(recorded.last)
            // Exactly the gateway's credential: the client's own never goes to a backend that has one.
            #expect(request.recordedHeader("authorization") == ["Bearer \(Self.secret)"])
            #expect(request.recordedHeader("anthropic-version") == ["2023-06-01"])
            #expect(request.recordedHeader("x-gateway") == ["client", "portcullis"])
            #expect(request.recordedHeader("x-debug").isEmpty)
            #expect(request.recordedHeader("x-route") == ["chat"])
            #expect(request.recordedHeader("x-tenant-id").isEmpty)

            // A reload reads the file again.
            try (Self.rotated + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
            #expect(await gateway.runtime.reload().succeeded)
            _ = try await TestHTTP.chat(gateway.baseURL)
            let after = try await TestHTTP.recorded(mock.url)
            #expect(after.last?.recordedHeader("authorization") == ["Bearer \(Self.rotated)"])

            // `/config` names where the secret comes from, never the secret.
            let adminPort = try #require(gateway.runtime.admin?.port)
            let config = try await TestHTTP.request("http://127.0.0.1:\(adminPort)/config", method: .GET, headers: [])
            #expect(config.status == 200)
            #expect(config.body.contains(#""source":"file:\#(secretFile)""#))
            #expect(!config.body.contains(Self.secret) && !config.body.contains(Self.rotated))
        }
    }

    @Test func aRefusedBackendCredentialIs502AndOtherErrorsAreScrubbed() async throws {
        try await withCredentialGateway { gateway, _, _, _ in
            for status in ["401", "403"] {
                let reply = try await TestHTTP.chat(
                    gateway.baseURL, extraHeaders: [("x-mock-status", status), ("x-mock-echo-credential", "authorization")])
                #expect(reply.status == 502)
                #expect(reply.errorCode == "upstream_auth_failed")
                #expect(!reply.body.contains("Incorrect API key") && !reply.body.contains(Self.secret))
                #expect(reply.headers["x-mock-credential"].isEmpty)
            }
            // Another error passes through, its status and shape kept, the credential masked
            // in the body and in the headers, the body's length unchanged.
            let reply = try await TestHTTP.chat(
                gateway.baseURL, extraHeaders: [("x-mock-status", "429"), ("x-mock-echo-credential", "authorization")])
            #expect(reply.status == 429)
            let mask = String(repeating: "*", count: Self.secret.utf8.count)
            #expect(reply.body.contains("Incorrect API key provided: Bearer \(mask)."))
            #expect(reply.headers["x-mock-credential"] == ["Bearer \(mask)"])
            #expect(!reply.body.contains(Self.secret) && !reply.headers.description.contains(Self.secret))
            // The connection the refused answer came on was dropped, and the next request is served.
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
            // The backend without a credential passes its 401 through as it is.
            let mesh = try await TestHTTP.chat(gateway.baseURL, model: "unrouted-model", extraHeaders: [("x-mock-status", "401")])
            #expect(mesh.status == 401)
            #expect(mesh.errorCode == "mock_status_401")
        }
    }

    @Test func theCatchAllServesUnmatchedModelsAndPaths() async throws {
        try await withCredentialGateway { gateway, mock, mesh, _ in
            try await TestHTTP.clearRecorded(mock.url)
            try await TestHTTP.clearRecorded(mesh.url)
            // A model no route names.
            #expect(try await TestHTTP.chat(gateway.baseURL, model: "some-other-model").status == 200)
            // Paths no route names: below a model (KServe's shape), and elsewhere.
            let infer = try await TestHTTP.request(
                gateway.baseURL + "/v1/models/sklearn-iris:predict", body: #"{"instances":[[1,2,3,4]]}"#)
            #expect(infer.status == 200)
            #expect(infer.json?["model_name"] as? String == "sklearn-iris")
            let other = try await TestHTTP.request(gateway.baseURL + "/v2/health/ready", method: .GET, headers: [])
            #expect(other.errorCode == "not_found")  // the mock's own 404: it was forwarded
            let uris = try await TestHTTP.recorded(mesh.url).compactMap { $0["uri"] as? String }
            #expect(uris == ["/v1/chat/completions", "/v1/models/sklearn-iris:predict", "/v2/health/ready"])
            // The gateway's own endpoints stay its own, and the routed model goes to its route.
            let models = try await TestHTTP.request(gateway.baseURL + "/v1/models", method: .GET, headers: [])
            #expect(models.status == 200)
            let model = try await TestHTTP.request(gateway.baseURL + "/v1/models/demo-chat", method: .GET, headers: [])
            #expect(model.status == 200)
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
            #expect(try await TestHTTP.recorded(mesh.url).count == 3)
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
        }
    }
}
