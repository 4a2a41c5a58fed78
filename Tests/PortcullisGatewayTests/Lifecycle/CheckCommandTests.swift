import Foundation
import PortcullisTestSupport
import Testing

/// `portcullis check` refuses what `serve` could not start, and the README's configuration
/// reference passes it.
@Suite("portcullis check", .serialized)
struct CheckCommandTests {
    static func check(_ yaml: String, in dir: String, environment: [String: String]? = nil) async throws -> (Int32, String) {
        let path = dir + "/portcullis.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: TestPaths.portcullisBinary, arguments: ["check", "--config", path], environment: environment)
        let status = try await process.waitForExit()
        return (status, process.capturedOutput)
    }

    @Test func everyFileTheConfigNamesIsOpenedRelativeToTheConfigsFolder() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/certs", withIntermediateDirectories: true)
            try "not a certificate".write(toFile: dir + "/certs/garbage.pem", atomically: true, encoding: .utf8)
            try #"{"keys":[]}"#.write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
            let yaml = """
                listeners:
                  - name: secure
                    address: 127.0.0.1:0
                    tls: { certificate: certs/server.pem, key: certs/server-key.pem }
                accessLog: { destination: logs/access.log }
                authentication:
                  jwt:
                    - { name: files, issuer: "https://a/", audiences: [x], jwks: { file: jwks.json } }
                    - { name: remote, issuer: "https://b/", audiences: [x], jwks: { uri: "https://b/jwks", ca: certs/nope.pem } }
                backends:
                  vllm: { endpoints: ["https://10.0.0.5:8000"], tls: { ca: certs/garbage.pem } }
                routes: [{ match: { model: m }, backend: vllm }]
                """
            let (status, output) = try await Self.check(yaml, in: dir)
            #expect(status == 1)
            for expected in [
                "listeners[0].tls.certificate (line 4): cannot read certificate '\(dir)/certs/server.pem': no such file",
                "listeners[0].tls.key (line 4): cannot read private key '\(dir)/certs/server-key.pem': no such file",
                "accessLog.destination (line 5): cannot create access log '\(dir)/logs/access.log': the folder '\(dir)/logs' does not exist",
                "authentication.jwt[0].jwks.file (line 8): '\(dir)/jwks.json': the JWKS has no usable key",
                "authentication.jwt[1].jwks.ca (line 9): cannot read CA bundle '\(dir)/certs/nope.pem': no such file",
                "backends.vllm.tls.ca (line 11): '\(dir)/certs/garbage.pem' is not a PEM certificate bundle",
            ] {
                #expect(output.contains(expected), "missing: \(expected)\n\(output)")
            }
        }
    }

    @Test func oneMissingEnvironmentVariableIsReportedOnceAndTyposGetSuggestions() async throws {
        try await withTemporaryDirectory { dir in
            let yaml = """
                listeners: [{ address: 127.0.0.1:0 }]
                authentication:
                  jwt:
                    - { name: internal, issuer: "https://i/", audiences: [x], algorithms: [HS256], secret: "${NOT_SET_ANYWHERE}" }
                backends:
                  b: { endpoints: [http://127.0.0.1:9], responceTimeout: 5s, response_timeout: 5s, idle: 1s }
                routes: [{ match: { model: m }, backend: b }]
                """
            let (status, output) = try await Self.check(yaml, in: dir)
            #expect(status == 1)
            let problems = output.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(problems.filter { $0.hasPrefix("authentication.jwt[0]") }.count == 1, "\(output)")
            #expect(output.contains("environment variable 'NOT_SET_ANYWHERE' is not set"))
            #expect(output.contains("unknown key 'responceTimeout' (did you mean 'responseTimeout'?)"), "\(output)")
            #expect(output.contains("unknown key 'response_timeout' (did you mean 'responseTimeout'?)"), "\(output)")
            // A word that is not a typo of anything gets the list instead.
            #expect(output.contains("unknown key 'idle' (expected one of:"), "\(output)")
        }
    }

    /// The `yaml` block under "## Configuration reference" in the README, with the certificate
    /// files and environment variables it names provided, passes `check`: the README tells the truth.
    @Test func theReadmesConfigurationReferencePasses() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Configuration reference").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        #expect(block.contains("listeners:") && block.contains("backends:"))
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/certs", withIntermediateDirectories: true)
            let certificates = try TestCertificates(directory: dir + "/certs")
            _ = try certificates.issue(name: "server", commonName: "gateway.example.com", server: true)
            _ = try certificates.issue(name: "edge-client", commonName: "edge-gateway", server: false)
            for bundle in ["clients-ca.pem", "vllm-ca.pem", "idp-ca.pem"] {
                try FileManager.default.copyItem(atPath: certificates.caPath, toPath: dir + "/certs/" + bundle)
            }
            let (status, output) = try await Self.check(
                String(block), in: dir,
                environment: [
                    "ROUTER_HMAC_SECRET": String(repeating: "r", count: 32), "INTERNAL_JWT_SECRET": String(repeating: "i", count: 32),
                    "OPENAI_API_KEY": "sk-" + String(repeating: "o", count: 40),
                ])
            #expect(status == 0, "\(output)")
            #expect(output.contains("OK"), "\(output)")
        }
    }

    @Test func versionAndHelpShowWhatServeTakes() async throws {
        let version = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["--version"])
        #expect(try await version.waitForExit() == 0)
        #expect(version.capturedOutput.split(separator: ".").count == 3, "\(version.capturedOutput)")
        let help = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["--help"])
        #expect(try await help.waitForExit() == 0)
        for option in ["--config", "--threads", "--log-level", "check", "mock", "hash-key"] {
            #expect(help.capturedOutput.contains(option), "\(option)")
        }
        // Serve's options are not taken by the root: subcommands keep their own.
        let check = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: ["check", "--config", "/nonexistent.yaml"])
        #expect(try await check.waitForExit() == 1)
        #expect(check.capturedOutput.contains("cannot read config file '/nonexistent.yaml'"))
    }
}
