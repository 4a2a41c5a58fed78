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
        return try self.load(yaml: text)
    }

    public func load(yaml: String) throws(ConfigError) -> ConfigSnapshot {
        let (file, readProblems) = try ConfigReader(environment: self.environment).readCollecting(yaml: yaml)
        return try self.compile(file, readProblems: readProblems)
    }

    /// Compiles a file that may have had read problems, reporting read and compile problems
    /// together so one `check` lists everything.
    public func compile(_ file: ConfigFile, readProblems: [Diagnostic]) throws(ConfigError) -> ConfigSnapshot {
        var problems = readProblems
        var snapshot: ConfigSnapshot?
        do {
            snapshot = try self.compiler.compile(file)
        } catch {
            problems += error.diagnostics.filter { !readProblems.contains($0) }
        }
        guard let snapshot, problems.isEmpty else { throw ConfigError(problems) }
        return snapshot
    }
}
