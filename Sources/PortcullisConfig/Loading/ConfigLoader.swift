import Foundation

/// Reads and compiles a config file in one call: the front door for `serve`, `check` and reloads.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    public var compiler: ConfigCompiler

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, compiler: ConfigCompiler = .init()) {
        self.environment = environment
        self.compiler = compiler
    }

    public func load(path: String) throws(ConfigError) -> ConfigSnapshot {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError([Diagnostic(path: "$", line: nil, message: "cannot read config file '\(path)'")])
        }
        return try self.load(yaml: text, baseDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    public func load(yaml: String, baseDirectory: String? = nil) throws(ConfigError) -> ConfigSnapshot {
        let read = try ConfigReader(environment: self.environment, baseDirectory: baseDirectory).readCollecting(yaml: yaml)
        return try self.compile(read)
    }

    /// Compiles a file that may have had read problems, reporting read and compile problems
    /// together so one `check` lists everything, and each root cause once.
    public func compile(_ read: ConfigReader.ReadResult) throws(ConfigError) -> ConfigSnapshot {
        var problems = read.diagnostics
        var snapshot: ConfigSnapshot?
        do {
            snapshot = try self.compiler.compile(read.file)
        } catch {
            problems += error.diagnostics.filter {
                !read.diagnostics.contains($0) && !DiagnosticSink.isConsequence($0, of: read.rootCauses)
            }
        }
        guard let snapshot, problems.isEmpty else { throw ConfigError(problems) }
        return snapshot
    }
}
