import Testing

@testable import PortcullisConfig

@Suite struct ConfigReaderTests {
    func problems(_ yaml: String, env: [String: String] = [:]) -> [Diagnostic] {
        do {
            _ = try ConfigLoader(environment: env).load(yaml: yaml)
            return []
        } catch {
            return error.diagnostics
        }
    }

    static let valid = """
        listeners:
          - name: main
            address: 127.0.0.1:8080
        admin: { address: 127.0.0.1:9901 }
        http:
          maxRequestBytes: 64KiB
          headerTimeout: 250ms
          sseKeepAlive: off
        backends:
          vllm:
            endpoints: [http://10.0.0.5:8000, "https://api.example.com/openai"]
            responseTimeout: 5m
        routes:
          - name: llama
            match: { model: "llama-3*" }
            backend: vllm
            rewriteModel: meta-llama/Llama-3-8B
          - match: { models: [gpt-4o, gpt-4o-mini] }
            backend: vllm
          - match: { pathPrefix: /v2/models/iris }
            backend: vllm
        """

    @Test func compilesAValidConfig() throws {
        let snapshot = try ConfigLoader(environment: [:]).load(yaml: Self.valid)
        #expect(snapshot.http.maxRequestBytes == 65536)
        #expect(snapshot.http.headerTimeoutNanos == 250_000_000)
        #expect(snapshot.http.sseKeepAliveNanos == 0)
        #expect(snapshot.backends[0].endpoints.count == 2)
        #expect(snapshot.backends[0].endpoints[1].basePath == "/openai")
        #expect(snapshot.backends[0].endpoints[1].port == 443)
        #expect(snapshot.router.route(model: "llama-3.1-8b")?.rewriteModel == "meta-llama/Llama-3-8B")
        #expect(snapshot.router.route(model: "gpt-4o")?.name == "route-1")
        #expect(snapshot.router.route(model: "mistral") == nil)
        #expect(snapshot.router.route(path: "/v2/models/iris/infer")?.isPathRoute == true)
        #expect(snapshot.router.route(path: "/v2/models/iris2/infer") == nil)
        #expect(snapshot.exposedModels.map(\.name) == ["gpt-4o", "gpt-4o-mini"])
    }

    /// Model names match on their bytes: canonical equivalence (NFD vs NFC), case, spaces,
    /// zero-width and look-alike characters never reach another model's route.
    @Test func modelNamesMatchByteForByte() throws {
        let yaml = """
            listeners: [{ address: 127.0.0.1:1 }]
            backends: { b: { endpoints: [http://a] } }
            routes:
              - { name: cafe, match: { model: "caf\u{E9}" }, backend: b }
              - { name: chat, match: { model: demo-chat }, backend: b }
              - { name: fam, match: { model: "fam-*" }, backend: b }
            """
        let snapshot = try ConfigLoader(environment: [:]).load(yaml: yaml)
        #expect(snapshot.router.route(model: "caf\u{E9}")?.name == "cafe")
        #expect(snapshot.router.route(model: "cafe\u{301}") == nil, "NFD is other bytes")
        for lookalike in ["Demo-Chat", " demo-chat", "demo-chat ", "demo\u{200B}-chat", "d\u{435}mo-chat", "demo\u{2010}chat"] {
            #expect(snapshot.router.route(model: lookalike) == nil, "\(lookalike.unicodeScalars.map { $0.value })")
        }
        #expect(snapshot.router.route(model: "fam-\u{301}")?.name == "fam", "a glob matches bytes too")
        #expect(snapshot.modelBody("cafe\u{301}") == nil)
        #expect(snapshot.modelBody("caf\u{E9}") != nil)
    }

    /// Tenant, org and plan names go out in headers: the compiler refuses ones that cannot.
    @Test func identityNamesMustBeSafeInHeaders() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:1 }]
            backends: { b: { endpoints: [http://a] } }
            routes: [{ match: { model: m }, backend: b }]
            authentication:
              apiKeys: [{ name: k, tenant: "a,b", sha256: "ac7fde03c2109964ab87f7a720c1dbaebb816e4047951928642a1fab937bccc5" }]
            tenants:
              "x;y": { org: "acme corp", plan: p }
              _other: {}
            plans:
              p: {}
            """)
        let paths = found.map(\.path)
        #expect(paths.contains { $0.hasSuffix("tenant") }, "\(found)")
        #expect(paths.contains { $0.hasSuffix("org") }, "\(found)")
        #expect(found.count == 4, "\(found)")
    }

    @Test func planAndTenantPolicyIsReadAndChecked() throws {
        let base = """
            listeners: [{ address: 127.0.0.1:1 }]
            backends: { b: { endpoints: [http://a] } }
            routes: [{ name: chat, match: { model: m }, backend: b }]

            """
        let snapshot = try ConfigLoader(environment: [:]).load(
            yaml: base + """
                tenants:
                  late: { plan: p, status: suspended, reason: "Invoice 7 is overdue." }
                  fine: { plan: p, status: active }
                plans:
                  p: { models: [m, "x-*"], routes: [chat] }
                """)
        #expect(snapshot.tenants.tenants["late"]?.suspendedReason == "Invoice 7 is overdue.")
        #expect(snapshot.tenants.tenants["fine"]?.suspendedReason == nil)
        let plan = try #require(snapshot.tenants.plans["p"])
        #expect(plan.allows(model: "m") && plan.allows(model: "x-1") && !plan.allows(model: "y"))
        #expect(plan.routes == ["chat"])

        let found = problems(
            base + """
                tenants:
                  a: { status: paused }
                  b: { reason: "no status" }
                plans:
                  p: { routes: [chat, nowhere] }
                """)
        #expect(found.map(\.path).sorted() == ["plans.p.routes", "tenants.a.status", "tenants.b.reason"], "\(found)")
    }

    @Test func unknownKeysAreNamedWithPathAndLine() {
        let found = problems(
            """
            listeners:
              - name: main
                adress: 127.0.0.1:8080
            routes: []
            bakends: {}
            """)
        #expect(found.contains { $0.path == "listeners[0].adress" && $0.line == 3 && $0.message.contains("unknown key 'adress'") })
        #expect(found.contains { $0.path == "listeners[0].address" && $0.message == "is required" })
        #expect(found.contains { $0.path == "bakends" && $0.line == 5 })
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = problems(
            """
            listeners:
              - address: nowhere
            http:
              headerTimeout: 10 seconds
              maxRequestBytes: lots
            backends:
              b:
                endpoints: [ftp://x]
            routes:
              - match: { model: m }
                backend: missing
            """)
        #expect(found.count >= 4, "\(found)")
        #expect(found.contains { $0.path == "listeners[0].address" && $0.line == 2 })
        #expect(found.contains { $0.path == "http.headerTimeout" && $0.line == 4 })
        #expect(found.contains { $0.path == "http.maxRequestBytes" && $0.line == 5 })
    }

    @Test func compileErrorsNameTheirPath() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:1 }]
            backends:
              b: { endpoints: [ftp://x] }
            routes:
              - match: { model: m }
                backend: missing
            """)
        #expect(found.contains { $0.path == "backends.b.endpoints[0]" })
        #expect(found.contains { $0.path == "routes[0].backend" && $0.message.contains("unknown backend 'missing'") })
    }

    @Test func environmentSubstitution() throws {
        let yaml = """
            listeners: [{ address: "127.0.0.1:${PORT}" }]
            backends:
              b: { endpoints: ["${URL:-http://127.0.0.1:9}"] }
            routes: [{ match: { model: m }, backend: b }]
            """
        let snapshot = try ConfigLoader(environment: ["PORT": "8123"]).load(yaml: yaml)
        #expect(snapshot.listeners[0].port == 8123)
        #expect(snapshot.backends[0].endpoints[0].port == 9)
        let missing = problems(yaml)
        #expect(missing.contains { $0.message.contains("environment variable 'PORT' is not set") && $0.line == 1 })
    }

    @Test func anUnsetVariableIsReportedOnceButUnrelatedProblemsStillAre() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:0 }]
            http: { maxRequestBytes: "${LIMIT}", idleTimeout: soon }
            authentication:
              jwt:
                - { name: hmac, issuer: "https://i/", audiences: [x], algorithms: [HS256], secret: "${SECRET}" }
            backends:
              b: { endpoints: ["${UPSTREAM}"] }
              c: { endpoints: [http://127.0.0.1:9], maxIdleConnections: "${IDLE}" }
            routes: [{ match: { model: m }, backend: b }, { match: { model: n }, backend: c }]
            """)
        let paths = found.map(\.path)
        // Each unset variable once, where it is used…
        for path in ["http.maxRequestBytes", "authentication.jwt[0].secret", "backends.b.endpoints[0]", "backends.c.maxIdleConnections"] {
            #expect(paths.filter { $0 == path }.count == 1, "\(path): \(paths)")
        }
        // …nothing that only follows from them (the provider's key source, the backend's endpoints)…
        #expect(!paths.contains("authentication.jwt[0].jwks"))
        #expect(!paths.contains("authentication.jwt[0].algorithms"))
        #expect(!paths.contains("backends.b.endpoints"))
        #expect(!paths.contains("routes[0].backend"))
        // …and an unrelated mistake beside one is still reported.
        #expect(found.contains { $0.path == "http.idleTimeout" && $0.message.contains("got 'soon'") }, "\(found)")
        #expect(found.count == 5, "\(found)")
    }

    @Test func aValueFromTheEnvironmentIsNeverEchoed() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:0 }]
            http: { idleTimeout: "${TIMEOUT}" }
            backends: { b: { endpoints: [http://127.0.0.1:9] } }
            routes: [{ match: { model: m }, backend: b }]
            """, env: ["TIMEOUT": "hunter2-secret"])
        #expect(found.count == 1)
        #expect(!found[0].message.contains("hunter2"))
        #expect(found[0].message.contains("'${TIMEOUT}' (from the environment)"))
    }

    @Test func duplicateYAMLKeysAreRefused() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:1 }]
            backends:
              b: { endpoints: [http://a] }
              b: { endpoints: [http://b] }
            """)
        #expect(found.contains { $0.message.contains("duplicate key 'b'") })
    }

    @Test func invalidYAMLGivesALine() {
        let found = problems("listeners:\n  - [unclosed\n")
        #expect(found.first?.line != nil)
    }

    @Test func tracingAndMetricsAreReadAndChecked() throws {
        let extra = """

            metrics: { tenantLabel: false }
            tracing: { endpoint: "http://127.0.0.1:4318/v1/traces", protocol: http/json, sampleRatio: 0.25, exportInterval: 1s }
            """
        let snapshot = try ConfigLoader(environment: [:]).load(yaml: Self.valid + extra)
        #expect(snapshot.metrics.tenantLabel == false)
        let tracing = try #require(snapshot.source.tracing)
        #expect(tracing.endpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(tracing.format == .json)
        #expect(tracing.sampleRatio == 0.25)
        #expect(tracing.exportIntervalNanos == 1_000_000_000)
        #expect(try ConfigLoader(environment: [:]).load(yaml: Self.valid).source.tracing == nil, "off by default")

        let badURL = problems(Self.valid + "\ntracing: { endpoint: \"collector:4318\" }\n")
        #expect(badURL.map(\.path) == ["tracing.endpoint"], "\(badURL)")
        let badValues = problems(
            Self.valid + "\ntracing: { endpoint: \"http://c:4318/v1/traces\", protocol: grpc, sampleRatio: 2 }\n")
        #expect(badValues.map(\.path).sorted() == ["tracing.protocol", "tracing.sampleRatio"], "\(badValues)")
    }

    @Test func pathPrefixesMustBeNormalised() {
        let found = problems(
            """
            listeners: [{ address: 127.0.0.1:1 }]
            backends: { b: { endpoints: [http://a] } }
            routes:
              - { match: { pathPrefix: /v1/../admin }, backend: b }
              - { match: { pathPrefix: /v1/chat/completions }, backend: b }
            """)
        #expect(found.count == 2)
    }

    @Test func quickstartCompiles() throws {
        let snapshot = try ConfigLoader(environment: [:], compiler: ConfigCompiler(builtinMockAddress: ("127.0.0.1", 5555)))
            .load(yaml: Quickstart.yaml)
        #expect(snapshot.backends[0].endpoints[0].port == 5555)
        #expect(snapshot.exposedModels.map(\.name) == ["demo-chat", "demo-embed"])
    }
}

@Suite struct QuantityTests {
    @Test(arguments: [("250ms", Int64(250_000_000)), ("10s", 10_000_000_000), ("5m", 300_000_000_000), ("1h", 3_600_000_000_000), ("1.5s", 1_500_000_000), ("0", 0)])
    func durations(text: String, nanos: Int64) {
        #expect(Quantities.parseDuration(text) == nanos)
    }

    @Test(arguments: ["10", "s", "-1s", "1x", "ten s"])
    func badDurations(text: String) {
        #expect(Quantities.parseDuration(text) == nil)
    }

    @Test func sizes() {
        #expect(Quantities.parseSize("1MiB") == 1_048_576)
        #expect(Quantities.parseSize("64KiB") == 65536)
        #expect(Quantities.parseSize("100") == 100)
        #expect(Quantities.parseSize("1MB") == 1_000_000)
        #expect(Quantities.parseSize("lots") == nil)
    }
}
