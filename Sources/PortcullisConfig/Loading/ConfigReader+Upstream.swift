import Foundation
import PortcullisCore

/// Reading what the gateway adds on the way to a backend: the backend's credential and static
/// header edits. Names are checked here, where the line is known; what depends on other parts
/// of the config (a route's edit touching a backend's credential) is checked by the compiler.
extension ConfigReader {
    func readCredential(_ value: YAMLValue) -> BackendCredentialSpec? {
        guard let map = value.mapping(allowed: ["header", "prefix", "env", "file"]) else { return nil }
        let location = SourceLocation(path: value.path, line: value.line)
        var header = "authorization"
        if let name = map["header"]?.nonEmptyString() {
            header = name.lowercased()
            if let problem = Self.editProblem(header) { map["header"]?.report(problem) }
        }
        var prefix = ""
        if let text = map["prefix"]?.string() {
            if HeaderRules.isSafeValue(text + "x") { prefix = text } else {
                map["prefix"]?.report("must be printable ASCII without line breaks")
            }
        }
        let source: BackendCredentialSpec.Source
        let secret: String
        switch (map["env"], map["file"]) {
        case (let env?, nil):
            guard let name = env.nonEmptyString() else { return nil }
            guard let text = self.environment.environment[name] else {
                env.report("environment variable '\(name)' is not set")
                return nil
            }
            source = .environment(name)
            secret = text
        case (nil, let file?):
            guard let path = file.filePath() else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else {
                file.report("cannot read '\(path)'")
                return nil
            }
            source = .file(path)
            var text = String(decoding: data, as: UTF8.self)
            while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
            secret = text
        case (_?, _?):
            map.sink.report(map.path, map.line, "a credential comes from 'env' or 'file', not both")
            return nil
        case (nil, nil):
            map.sink.report(map.path, map.line, "a credential needs 'env' (a variable's name) or 'file' (a path)")
            return nil
        }
        // Never quoted: the diagnostic names where the secret came from, not what it holds.
        guard secret.utf8.count >= BackendCredentialSpec.minimumSecretLength else {
            value.report("the secret from \(source) is shorter than \(BackendCredentialSpec.minimumSecretLength) bytes")
            return nil
        }
        guard secret.utf8.allSatisfy(BackendCredentialSpec.isSecretByte) else {
            value.report("the secret from \(source) may only hold letters, digits and - . _ ~ + / = : (no spaces, quotes or backslashes)")
            return nil
        }
        var spec = BackendCredentialSpec(source: source, secret: secret, location: location)
        spec.header = header
        spec.prefix = prefix
        return spec
    }

    func readHeaderEdits(_ value: YAMLValue) -> HeaderEditsSpec {
        var spec = HeaderEditsSpec()
        spec.location = SourceLocation(path: value.path, line: value.line)
        guard let map = value.mapping(allowed: ["set", "add", "remove"]) else { return spec }
        spec.set = self.readFields(map["set"])
        spec.add = self.readFields(map["add"])
        if let names = map["remove"]?.stringList() {
            for name in names {
                let lowercased = name.lowercased()
                if let problem = Self.editProblem(lowercased) { map["remove"]?.report("'\(name)': \(problem)") } else {
                    spec.remove.append(lowercased)
                }
            }
        }
        var seen: Set<String> = []
        for name in spec.set.map(\.name) + spec.add.map(\.name) + spec.remove where !seen.insert(name).inserted {
            value.report("header '\(name)' is edited twice (set, add and remove are exclusive)")
        }
        return spec
    }

    private func readFields(_ value: YAMLValue?) -> [HeaderEditsSpec.Field] {
        guard let value, let map = value.anyMapping() else { return [] }
        var fields: [HeaderEditsSpec.Field] = []
        for entry in map.entries {
            let name = entry.key.lowercased()
            if let problem = Self.editProblem(name) {
                entry.value.report(problem)
                continue
            }
            guard let text = entry.value.string() else { continue }
            guard HeaderRules.isSafeValue(text) else {
                entry.value.report("must be printable ASCII without line breaks or edge spaces")
                continue
            }
            fields.append(.init(name: name, value: text))
        }
        return fields
    }

    /// Why a header name cannot be edited (nil: it can).
    static func editProblem(_ name: String) -> String? {
        if !HeaderRules.isToken(name) { return "'\(name)' is not a valid header name" }
        if name.utf8.contains(UInt8(ascii: "_")) {
            return "'\(name)' contains '_' (the gateway never sends such names: CGI-style backends fold them)"
        }
        if name == "traceparent" || name == "tracestate" {
            return "'\(name)' is the trace context, which the gateway propagates itself"
        }
        if HeaderRules.isOwnedUpstream(name) {
            return "'\(name)' is set by the gateway itself (identity, framing, forwarding) and cannot be edited"
        }
        return nil
    }
}

/// Reading how the gateway copes with a backend that is slow, failing or overloaded.
extension ConfigReader {
    func readCircuitBreaker(_ value: YAMLValue) -> CircuitBreakerSpec {
        var spec = CircuitBreakerSpec()
        guard let map = value.mapping(allowed: ["maxConnections", "maxPendingRequests", "maxRequests"]) else { return spec }
        if let v = map["maxConnections"]?.int(min: 1, max: 1_000_000) { spec.maxConnections = v }
        if let v = map["maxPendingRequests"]?.int(min: 1, max: 1_000_000) { spec.maxPendingRequests = v }
        if let v = map["maxRequests"]?.int(min: 1, max: 1_000_000) { spec.maxRequests = v }
        return spec
    }

    func readRetries(_ value: YAMLValue) -> RetrySpec {
        var spec = RetrySpec()
        if value.plainScalar == "off" {
            spec.attempts = 0
            return spec
        }
        guard
            let map = value.mapping(allowed: [
                "attempts", "onConnectFailure", "statuses", "backoff", "maxBackoff", "budget", "minRetriesInFlight",
            ])
        else { return spec }
        if let v = map["attempts"]?.int(min: 0, max: 10) { spec.attempts = v }
        if let v = map["onConnectFailure"]?.bool() { spec.onConnectFailure = v }
        if let list = map["statuses"]?.sequence() {
            spec.statuses = list.compactMap { $0.int(min: 500, max: 599) }
        }
        if let v = map["backoff"]?.duration() { spec.backoffNanos = v }
        if let v = map["maxBackoff"]?.duration() { spec.maxBackoffNanos = v }
        if spec.maxBackoffNanos < spec.backoffNanos {
            // Only a written maxBackoff can be wrong; the default follows a larger backoff.
            if let written = map["maxBackoff"] { written.report("must be at least backoff") } else { spec.maxBackoffNanos = spec.backoffNanos }
        }
        if let budget = map["budget"], let v = Self.percent(budget) { spec.budgetPercent = v }
        if let v = map["minRetriesInFlight"]?.int(min: 0, max: 100_000) { spec.minRetriesInFlight = v }
        return spec
    }

    func readOutlierDetection(_ value: YAMLValue) -> OutlierDetectionSpec {
        var spec = OutlierDetectionSpec()
        if value.plainScalar == "off" {
            spec.enabled = false
            return spec
        }
        guard
            let map = value.mapping(allowed: ["consecutiveFailures", "baseEjection", "maxEjection", "maxEjectedPercent"])
        else { return spec }
        if let v = map["consecutiveFailures"]?.int(min: 1, max: 10_000) { spec.consecutiveFailures = v }
        if let v = map["baseEjection"]?.duration() { spec.baseEjectionNanos = max(v, 1_000_000) }
        if let v = map["maxEjection"]?.duration() { spec.maxEjectionNanos = v }
        if spec.maxEjectionNanos < spec.baseEjectionNanos {
            if let written = map["maxEjection"] { written.report("must be at least baseEjection") } else {
                spec.maxEjectionNanos = spec.baseEjectionNanos * 10
            }
        }
        if let percent = map["maxEjectedPercent"], let v = Self.percent(percent) { spec.maxEjectedPercent = v }
        return spec
    }

    func readHealthCheck(_ value: YAMLValue) -> HealthCheckSpec? {
        guard
            let map = value.mapping(allowed: ["path", "interval", "timeout", "healthyThreshold", "unhealthyThreshold"])
        else { return nil }
        var spec = HealthCheckSpec()
        if let path = map["path"]?.nonEmptyString() {
            if path.hasPrefix("/") && HeaderRules.isSafeValue(path) && !path.contains(" ") { spec.path = path } else {
                map["path"]?.report("expected an absolute path such as /health")
            }
        }
        if let v = map["interval"]?.duration() { spec.intervalNanos = max(v, 10_000_000) }
        if let v = map["timeout"]?.duration() { spec.timeoutNanos = max(v, 1_000_000) }
        if spec.timeoutNanos > spec.intervalNanos { map["timeout"]?.report("must not be longer than the interval") }
        if let v = map["healthyThreshold"]?.int(min: 1, max: 100) { spec.healthyThreshold = v }
        if let v = map["unhealthyThreshold"]?.int(min: 1, max: 100) { spec.unhealthyThreshold = v }
        return spec
    }

    /// `20%` or `20`: a whole percentage from 0 to 100.
    static func percent(_ value: YAMLValue) -> Int? {
        guard let text = value.string() else { return nil }
        let digits = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let v = Int(digits), (0...100).contains(v) else {
            value.report("expected a percentage from 0 to 100 such as 20%, got \(value.shown(text))")
            return nil
        }
        return v
    }

    /// A route's `backends`: names in order of preference (`[A, B]`), or a weighted split
    /// (`[{ backend: A, weight: 95 }, { backend: B, weight: 5 }]`) with a whole weight from 0
    /// to 10000 for every entry and a total above 0. Mixing the two forms is refused: a
    /// backend without a weight in a split would have no clear share.
    func readRouteBackends(_ value: YAMLValue) -> (names: [String], weights: [Int]?) {
        if case .scalar = value.node { return (value.stringList() ?? [], nil) }
        guard let items = value.sequence() else { return ([], nil) }
        var names: [String] = []
        var weights: [Int] = []
        var plain = 0
        for item in items {
            if case .scalar = item.node {
                if let name = item.nonEmptyString() { names.append(name) }
                plain += 1
                continue
            }
            guard let entry = item.mapping(allowed: ["backend", "weight"]),
                let name = entry.required("backend")?.nonEmptyString(),
                let weight = entry.required("weight")?.int(min: 0, max: 10_000)
            else { continue }
            names.append(name)
            weights.append(weight)
        }
        guard !weights.isEmpty else { return (names, nil) }
        if plain > 0 {
            value.report("a weighted split gives every backend a weight ({ backend: NAME, weight: N })")
        } else if weights.reduce(0, +) == 0 {
            value.report("the weights of a split add up to 0: no backend would get traffic")
        }
        return (names, weights)
    }
}
