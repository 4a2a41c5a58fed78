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
    /// Paths whose value could not be read at all (an environment variable that is not set):
    /// problems that follow from the missing value are not reported again.
    private(set) var rootCauses: [String] = []

    func report(_ path: String, _ line: Int?, _ message: String) {
        let diagnostic = Diagnostic(path: path, line: line, message: message)
        guard !Self.isConsequence(diagnostic, of: self.rootCauses) else { return }
        self.items.append(diagnostic)
    }

    /// Reports a problem that makes the value at `path` unknown.
    func reportRootCause(_ path: String, _ line: Int?, _ message: String) {
        self.items.append(Diagnostic(path: path, line: line, message: message))
        self.rootCauses.append(path)
    }

    /// Whether `diagnostic` is about the same entity as a root cause (a sibling or ancestor of
    /// it): `authentication.jwt[0].jwks` follows from an unset `authentication.jwt[0].secret`.
    static func isConsequence(_ diagnostic: Diagnostic, of rootCauses: [String]) -> Bool {
        guard !rootCauses.isEmpty else { return false }
        let entity = Self.parent(of: diagnostic.path)
        for cause in rootCauses where cause != diagnostic.path {
            if cause.hasPrefix(diagnostic.path + ".") || cause.hasPrefix(diagnostic.path + "[") { return true }
            if let entity, cause.hasPrefix(entity + ".") || cause.hasPrefix(entity + "[") { return true }
        }
        return false
    }

    /// `a.b[2].c` → `a.b[2]`; `a.b[2]` → `a.b`; top level → nil.
    static func parent(of path: String) -> String? {
        guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
        return String(path[..<cut])
    }
}
