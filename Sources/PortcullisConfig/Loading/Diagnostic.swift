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

    /// Reports a problem found while reading. One about a value that contains an unreadable
    /// one (the list an unset variable was in) is not reported again.
    func report(_ path: String, _ line: Int?, _ message: String) {
        guard !self.rootCauses.contains(where: { Self.isInside($0, path) }) else { return }
        self.items.append(Diagnostic(path: path, line: line, message: message))
    }

    /// Reports a problem that makes the value at `path` unknown.
    func reportRootCause(_ path: String, _ line: Int?, _ message: String) {
        self.items.append(Diagnostic(path: path, line: line, message: message))
        self.rootCauses.append(path)
    }

    /// Whether `path` lies inside `container` (`a.b[0]` inside `a.b`).
    static func isInside(_ path: String, _ container: String) -> Bool {
        path.hasPrefix(container + ".") || path.hasPrefix(container + "[")
    }

    /// Whether a compile problem follows from a value that could not be read: it is about the
    /// same entity (`authentication.jwt[0].jwks` when `authentication.jwt[0].secret` was unset)
    /// or a container of it. Problems elsewhere are still reported.
    static func isConsequence(_ diagnostic: Diagnostic, of rootCauses: [String]) -> Bool {
        guard !rootCauses.isEmpty else { return false }
        let entity = Self.parent(of: diagnostic.path)
        for cause in rootCauses where cause != diagnostic.path {
            if Self.isInside(cause, diagnostic.path) { return true }
            if let entity, Self.isInside(cause, entity), entity.contains(".") || entity.contains("[") { return true }
        }
        return false
    }

    /// `a.b[2].c` → `a.b[2]`; `a.b[2]` → `a.b`; top level → nil.
    static func parent(of path: String) -> String? {
        guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
        return String(path[..<cut])
    }
}
