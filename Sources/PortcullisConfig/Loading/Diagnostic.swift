/// One problem found in a config: where (YAML path, and line when known) and what.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int?
    public var message: String

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(self.path) (line \(line)): \(self.message)" }
        return "\(self.path): \(self.message)"
    }
}

/// Thrown when a config cannot be loaded or compiled; carries every problem found, not just the first.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        self.diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// Collects diagnostics while a config is read and compiled.
final class DiagnosticSink {
    private(set) var items: [Diagnostic] = []

    func report(_ path: String, _ line: Int?, _ message: String) {
        self.items.append(Diagnostic(path: path, line: line, message: message))
    }
}
