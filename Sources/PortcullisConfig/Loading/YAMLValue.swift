import Yams

/// A YAML node together with its path in the document, read with diagnostics.
///
/// Every accessor reports what is wrong (naming the path and line) into the shared sink and
/// returns nil, so one pass over a config finds every problem instead of stopping at the first.
struct YAMLValue {
    let node: Node
    let path: String
    let sink: DiagnosticSink
    let environment: EnvironmentSubstitution
    /// Relative file paths resolve against this folder (the config file's).
    let baseDirectory: String

    var line: Int? { self.node.mark?.line }

    func report(_ message: String) {
        self.sink.report(self.path, self.line, message)
    }

    var isNull: Bool {
        if case .scalar(let scalar) = self.node, scalar.style == .plain,
            ["", "~", "null", "Null", "NULL"].contains(scalar.string)
        {
            return true
        }
        return false
    }

    /// The scalar's text as written, or nil for a mapping or sequence (reports nothing: for
    /// keys that take either a word such as `off` or a mapping).
    var plainScalar: String? {
        if case .scalar(let scalar) = self.node { return scalar.string }
        return nil
    }

    /// The scalar's text after `${ENV}` substitution.
    func string() -> String? {
        guard case .scalar(let scalar) = self.node else {
            self.report("expected a string")
            return nil
        }
        switch self.environment.apply(scalar.string) {
        case .success(let value):
            return value
        case .failure(.undefined(let name)):
            self.sink.reportRootCause(
                self.path, self.line, "environment variable '\(name)' is not set (use ${\(name):-default} for a fallback)")
            return nil
        case .failure(.malformed):
            self.sink.reportRootCause(self.path, self.line, "malformed ${…} reference (write $$ for a literal $)")
            return nil
        }
    }

    func nonEmptyString() -> String? {
        guard let value = self.string() else { return nil }
        guard !value.isEmpty else {
            self.report("must not be empty")
            return nil
        }
        return value
    }

    /// A value as quoted in a diagnostic: what was written, never what an environment variable
    /// held (diagnostics are logged on reload, and a variable may hold a secret).
    func shown(_ text: String) -> String {
        if case .scalar(let scalar) = self.node, scalar.string.contains("${") { return "'\(scalar.string)' (from the environment)" }
        return "'\(text)'"
    }

    /// A file path; a relative one resolves against the config file's folder.
    func filePath() -> String? {
        guard let text = self.nonEmptyString() else { return nil }
        return Self.resolve(text, against: self.baseDirectory)
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") { return path }
        var base = base
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var rest = Substring(path)
        while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
        return base == "/" ? "/" + rest : base + "/" + rest
    }

    func int(min: Int = Int.min, max: Int = Int.max) -> Int? {
        guard let text = self.string() else { return nil }
        guard let value = Int(text) else {
            self.report("expected an integer, got \(self.shown(text))")
            return nil
        }
        guard value >= min, value <= max else {
            self.report("must be between \(min) and \(max)")
            return nil
        }
        return value
    }

    func bool() -> Bool? {
        guard let text = self.string() else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            self.report("expected true or false, got \(self.shown(text))")
            return nil
        }
    }

    /// A duration such as `250ms`, `10s`, `5m`; in nanoseconds.
    func duration() -> Int64? {
        guard let text = self.string() else { return nil }
        guard let value = Quantities.parseDuration(text) else {
            self.report("expected a duration such as 250ms, 10s or 5m, got \(self.shown(text))")
            return nil
        }
        return value
    }

    /// A duration, or `off` / `false` for disabled (returned as 0).
    func durationOrOff() -> Int64? {
        if case .scalar(let scalar) = self.node, ["off", "false"].contains(scalar.string) { return 0 }
        return self.duration()
    }

    /// An amount of US dollars such as `25` or `2.50` (at most six decimals), in µUSD.
    func dollars(min: Int = 0) -> Int? {
        guard let text = self.string() else { return nil }
        guard let micros = Quantities.parseDollars(text) else {
            self.report("expected an amount of dollars such as 25 or 2.50, got \(self.shown(text))")
            return nil
        }
        guard micros >= min else {
            self.report("must be more than 0")
            return nil
        }
        return micros
    }

    /// A size in bytes such as `65536`, `64KiB`, `1MiB`.
    func size(min: Int = 0) -> Int? {
        guard let text = self.string() else { return nil }
        guard let value = Quantities.parseSize(text) else {
            self.report("expected a size such as 65536, 64KiB or 1MiB, got \(self.shown(text))")
            return nil
        }
        guard value >= min else {
            self.report("must be at least \(min) bytes")
            return nil
        }
        return value
    }

    func oneOf(_ allowed: [String]) -> String? {
        guard let text = self.string() else { return nil }
        guard allowed.contains(text) else {
            self.report("expected one of \(allowed.joined(separator: ", ")), got \(self.shown(text))")
            return nil
        }
        return text
    }

    /// One of a closed enum's raw values (`tokenType`, `onFailure`…).
    func choice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type) -> Choice? where Choice.RawValue == String {
        guard let text = self.string() else { return nil }
        guard let choice = Choice(rawValue: text) else {
            self.report("expected one of: \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return choice
    }

    func sequence() -> [YAMLValue]? {
        guard case .sequence(let sequence) = self.node else {
            self.report("expected a list")
            return nil
        }
        return sequence.enumerated().map { index, child in
            YAMLValue(
                node: child, path: "\(self.path)[\(index)]", sink: self.sink, environment: self.environment,
                baseDirectory: self.baseDirectory)
        }
    }

    /// A list of strings; a single string is accepted as a list of one. Items that cannot be
    /// read are reported and left out, so the rest of the entity is still checked.
    func stringList() -> [String]? {
        if case .scalar = self.node {
            return self.string().map { [$0] }
        }
        guard let items = self.sequence() else { return nil }
        return items.compactMap { $0.nonEmptyString() }
    }

    /// A mapping whose keys must come from `allowed`; unknown and duplicated keys are reported.
    func mapping(allowed: [String]) -> YAMLMap? {
        guard let map = self.anyMapping() else { return nil }
        for entry in map.entries where !allowed.contains(entry.key) {
            var message = "unknown key '\(entry.key)'"
            if let near = KeySuggestion.closest(to: entry.key, among: allowed) {
                message += " (did you mean '\(near)'?)"
            } else {
                message += " (expected one of: \(allowed.joined(separator: ", ")))"
            }
            self.sink.report(entry.value.path, entry.line, message)
        }
        return map
    }

    /// A mapping with free-form keys (names of backends, tenants, …).
    func anyMapping() -> YAMLMap? {
        guard case .mapping(let mapping) = self.node else {
            self.report("expected a mapping")
            return nil
        }
        var entries: [YAMLMap.Entry] = []
        var seen: Set<String> = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                self.sink.report(self.path, keyNode.mark?.line, "keys must be strings")
                continue
            }
            let key = keyScalar.string
            let childPath = self.path.isEmpty ? key : "\(self.path).\(key)"
            if !seen.insert(key).inserted {
                self.sink.report(childPath, keyNode.mark?.line, "duplicate key '\(key)'")
                continue
            }
            entries.append(
                YAMLMap.Entry(
                    key: key, line: keyNode.mark?.line,
                    value: YAMLValue(
                        node: valueNode, path: childPath, sink: self.sink, environment: self.environment,
                        baseDirectory: self.baseDirectory)))
        }
        return YAMLMap(path: self.path, line: self.line, sink: self.sink, entries: entries)
    }
}

/// A YAML mapping read through ``YAMLValue``.
struct YAMLMap {
    struct Entry {
        var key: String
        var line: Int?
        var value: YAMLValue
    }

    let path: String
    let line: Int?
    let sink: DiagnosticSink
    let entries: [Entry]

    subscript(_ key: String) -> YAMLValue? {
        guard let entry = self.entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    func required(_ key: String) -> YAMLValue? {
        guard let value = self[key] else {
            self.sink.report(self.path.isEmpty ? key : "\(self.path).\(key)", self.line, "is required")
            return nil
        }
        return value
    }

    func has(_ key: String) -> Bool { self[key] != nil }
}
