/// `${NAME}` and `${NAME:-default}` substitution inside YAML scalars; `$$` is a literal `$`.
///
/// Applied to each scalar after parsing, not to the raw text, so a variable's value can never
/// change the YAML structure and line numbers in diagnostics stay true.
public struct EnvironmentSubstitution: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    public enum Problem: Error, Equatable {
        case undefined(String)
        case malformed
    }

    public func apply(_ text: String) -> Result<String, Problem> {
        guard text.contains("$") else { return .success(text) }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest.index(after: dollar)
            if after < rest.endIndex, rest[after] == "$" {
                out += "$"
                rest = rest[rest.index(after: after)...]
                continue
            }
            guard after < rest.endIndex, rest[after] == "{" else {
                out += "$"
                rest = rest[after...]
                continue
            }
            guard let close = rest[after...].firstIndex(of: "}") else { return .failure(.malformed) }
            let body = rest[rest.index(after: after)..<close]
            var name = body
            var fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                return .failure(.malformed)
            }
            if let value = self.environment[String(name)] {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                return .failure(.undefined(String(name)))
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return .success(out)
    }
}
