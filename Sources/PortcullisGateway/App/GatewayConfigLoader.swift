import Foundation
import PortcullisConfig

/// Reads, compiles and checks a config the way `serve`, a reload and `check` all do: YAML with
/// diagnostics, the compiler's cross-checks, then every file the config names
/// (``ResourceCheck``). Relative paths resolve against the config file's folder.
public struct GatewayConfigLoader: Sendable {
    public var source: ConfigSource
    public var environment: [String: String]
    /// Address of the in-process mock, substituted for `builtin:mock` endpoints.
    public var builtinMockAddress: (host: String, port: Int)?

    public init(source: ConfigSource, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.source = source
        self.environment = environment
    }

    /// The config file's folder, or the working directory.
    var baseDirectory: String {
        switch self.source {
        case .file(let path): URL(fileURLWithPath: path).deletingLastPathComponent().path
        case .yaml, .quickstart: FileManager.default.currentDirectoryPath
        }
    }

    public func text() throws(ConfigError) -> String {
        switch self.source {
        case .quickstart: return Quickstart.yaml
        case .yaml(let yaml): return yaml
        case .file(let path):
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError([Diagnostic(path: "$", line: nil, message: "cannot read config file '\(path)'")])
            }
        }
    }

    /// Reads the YAML (before anything that depends on it, such as the in-process mock, starts).
    public func read() throws(ConfigError) -> ConfigReader.ReadResult {
        try ConfigReader(environment: self.environment, baseDirectory: self.baseDirectory).readCollecting(yaml: self.text())
    }

    /// Compiles what ``read()`` returned and checks the files it names.
    public func compile(_ read: ConfigReader.ReadResult) throws(ConfigError) -> ConfigSnapshot {
        var compiler = ConfigCompiler()
        compiler.builtinMockAddress = self.builtinMockAddress
        let snapshot = try ConfigLoader(environment: self.environment, compiler: compiler).compile(read)
        let problems = ResourceCheck.problems(in: snapshot)
        if !problems.isEmpty { throw ConfigError(problems) }
        return snapshot
    }

    public func load() throws(ConfigError) -> ConfigSnapshot {
        try self.compile(self.read())
    }
}
