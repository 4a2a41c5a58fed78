import Foundation
import Yams

/// Reads YAML text into a ``ConfigFile``, reporting every problem with its path and line.
public struct ConfigReader: Sendable {
    public var environment: EnvironmentSubstitution
    /// Relative file paths in the config resolve against this folder (the config file's own;
    /// the working directory for a config given as text).
    public var baseDirectory: String

    public init(environment: [String: String], baseDirectory: String? = nil) {
        self.environment = EnvironmentSubstitution(environment: environment)
        self.baseDirectory = baseDirectory ?? FileManager.default.currentDirectoryPath
    }

    /// What one read found: the file as far as it could be read, every problem, and the paths
    /// whose values could not be read at all (compile problems that follow from those are not
    /// reported again).
    public struct ReadResult: Sendable {
        public var file: ConfigFile
        public var diagnostics: [Diagnostic]
        public var rootCauses: [String]
    }

    static let topLevelKeys = [
        "listeners", "admin", "http", "backends", "routes", "mock", "accessLog", "authentication", "tenants", "plans", "limits", "limitStore", "prices", "region", "externalAuthorization",
        "authz",
        "reload", "metrics", "tracing",
    ]

    /// Reads `yaml`; throws with every problem found.
    public func read(yaml: String) throws(ConfigError) -> ConfigFile {
        let result = try self.readCollecting(yaml: yaml)
        if !result.diagnostics.isEmpty { throw ConfigError(result.diagnostics) }
        return result.file
    }

    /// Reads `yaml` as far as it can: the file (with whatever could be read) and the problems
    /// found. Throws only when the YAML itself cannot be parsed.
    public func readCollecting(yaml: String) throws(ConfigError) -> ReadResult {
        let sink = DiagnosticSink()
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError([Self.diagnostic(for: error)])
        } catch {
            throw ConfigError([Diagnostic(path: "$", line: nil, message: "YAML could not be parsed")])
        }
        guard let node else {
            throw ConfigError([Diagnostic(path: "$", line: nil, message: "the config is empty")])
        }
        let root = YAMLValue(node: node, path: "", sink: sink, environment: self.environment, baseDirectory: self.baseDirectory)
        var file = ConfigFile()
        if let map = root.mapping(allowed: Self.topLevelKeys) {
            self.readTopLevel(map, into: &file)
        }
        return ReadResult(file: file, diagnostics: sink.items, rootCauses: sink.rootCauses)
    }

    private static func diagnostic(for error: YamlError) -> Diagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return Diagnostic(path: "$", line: mark.line, message: "invalid YAML: \(problem)")
        case .composer(_, let problem, let mark, _):
            return Diagnostic(path: "$", line: mark.line, message: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                path: "$", line: context.mark.line,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        default:
            return Diagnostic(path: "$", line: nil, message: "invalid YAML")
        }
    }

    private func readTopLevel(_ map: YAMLMap, into file: inout ConfigFile) {
        if let listeners = map["listeners"]?.sequence() {
            file.listeners = listeners.compactMap(self.readListener)
        }
        if let admin = map["admin"]?.mapping(allowed: ["address"]),
            let address = admin.required("address"), let (host, port) = Self.address(address)
        {
            file.admin = AdminSpec(host: host, port: port)
        }
        if let http = map["http"] {
            file.http = self.readHTTP(http)
        }
        if let backends = map["backends"]?.anyMapping() {
            file.backends = backends.entries.compactMap { self.readBackend(name: $0.key, $0.value) }
        }
        if let routes = map["routes"]?.sequence() {
            file.routes = routes.enumerated().compactMap { self.readRoute(index: $0.offset, $0.element) }
        }
        if let mock = map["mock"] {
            file.mock = self.readMock(mock)
        }
        if let logValue = map["accessLog"], let log = logValue.mapping(allowed: ["destination"]) {
            if let value = log["destination"], let destination = value.nonEmptyString() {
                file.accessLog.destination =
                    AccessLogSpec.streams.contains(destination) ? destination : YAMLValue.resolve(destination, against: self.baseDirectory)
                file.accessLog.location = .init(path: value.path, line: value.line)
            }
        }
        if let metrics = map["metrics"]?.mapping(allowed: ["tenantLabel"]) {
            if let v = metrics["tenantLabel"]?.bool() { file.metrics.tenantLabel = v }
        }
        if let tracing = map["tracing"] {
            file.tracing = self.readTracing(tracing)
        }
        if let reload = map["reload"]?.mapping(allowed: ["watch", "interval"]) {
            if let v = reload["watch"]?.bool() { file.reload.watch = v }
            if let v = reload["interval"]?.duration() { file.reload.intervalNanos = max(v, 100_000_000) }
        }
        if let authentication = map["authentication"] {
            file.authentication = self.readAuthentication(authentication)
        }
        if let tenants = map["tenants"]?.anyMapping() {
            file.tenants = tenants.entries.compactMap { self.readTenant(name: $0.key, $0.value) }
        }
        file.region = map["region"]?.nonEmptyString()
        if let authorizers = map["externalAuthorization"]?.anyMapping() {
            file.externalAuthorization = authorizers.entries.compactMap { self.readExternalAuthorization(name: $0.key, $0.value) }
        }
        if let authz = map["authz"] {
            file.authz = self.readAuthz(authz)
        }
        if let limits = map["limits"]?.sequence() {
            file.limits = limits.compactMap(self.readLimitRule)
        }
        if let prices = map["prices"]?.anyMapping() {
            file.prices = prices.entries.compactMap { self.readPrice(model: $0.key, $0.value) }
        }
        if let store = map["limitStore"] {
            file.limitStore = self.readLimitStore(store)
        }
        if let plans = map["plans"]?.anyMapping() {
            file.plans = plans.entries.compactMap { self.readPlan(name: $0.key, $0.value) }
        }
    }

    private func readListener(_ value: YAMLValue) -> ListenerSpec? {
        guard let map = value.mapping(allowed: ["name", "address", "tls", "http2", "authentication"]) else { return nil }
        let name = map["name"]?.nonEmptyString() ?? "listener"
        guard let address = map.required("address"), let (host, port) = Self.address(address) else { return nil }
        var spec = ListenerSpec(name: name, host: host, port: port, location: .init(path: value.path, line: value.line))
        if let tls = map["tls"] { spec.tls = self.readTLS(tls) }
        if let http2 = map["http2"] { spec.http2 = self.readHTTP2(http2) }
        if let policy = map["authentication"] { spec.authentication = self.readPolicy(policy, allowRequired: true) }
        return spec
    }

    private func readHTTP(_ value: YAMLValue) -> HTTPSpec {
        var spec = HTTPSpec()
        guard
            let map = value.mapping(allowed: [
                "maxRequestBytes", "maxHeaderBytes", "maxHeaderCount", "headerTimeout", "bodyTimeout", "idleTimeout",
                "sseKeepAlive", "drainTimeout",
            ])
        else { return spec }
        if let v = map["maxRequestBytes"]?.size(min: 1) { spec.maxRequestBytes = v }
        if let v = map["maxHeaderBytes"]?.size(min: 1024) { spec.maxHeaderBytes = v }
        if let v = map["maxHeaderCount"]?.int(min: 8, max: 10_000) { spec.maxHeaderCount = v }
        if let v = map["headerTimeout"]?.duration() { spec.headerTimeoutNanos = v }
        if let v = map["bodyTimeout"]?.duration() { spec.bodyTimeoutNanos = v }
        if let v = map["idleTimeout"]?.duration() { spec.idleTimeoutNanos = v }
        if let v = map["sseKeepAlive"]?.durationOrOff() { spec.sseKeepAliveNanos = v }
        if let v = map["drainTimeout"]?.duration() { spec.drainTimeoutNanos = v }
        return spec
    }

    private func readBackend(name: String, _ value: YAMLValue) -> BackendSpec? {
        guard
            let map = value.mapping(allowed: [
                "endpoints", "connectTimeout", "responseTimeout", "idleTimeout", "maxIdleConnections", "keepAliveTimeout", "tls",
                "signContext", "region", "credential", "headers", "circuitBreaker", "retries", "outlierDetection",
                "healthCheck", "balance", "http2", "totalTimeout",
            ])
        else { return nil }
        guard let endpoints = map.required("endpoints")?.stringList() else { return nil }
        var spec = BackendSpec(
            name: name, endpoints: endpoints, location: .init(path: value.path, line: value.line))
        if let v = map["connectTimeout"]?.duration() { spec.connectTimeoutNanos = v }
        if let v = map["responseTimeout"]?.duration() { spec.responseTimeoutNanos = v }
        if let v = map["idleTimeout"]?.duration() { spec.idleTimeoutNanos = v }
        spec.totalTimeoutNanos = map["totalTimeout"]?.duration()
        if let v = map["maxIdleConnections"]?.int(min: 0, max: 100_000) { spec.maxIdleConnections = v }
        if let v = map["keepAliveTimeout"]?.duration() { spec.keepAliveTimeoutNanos = v }
        spec.region = map["region"]?.nonEmptyString()
        if let tls = map["tls"]?.mapping(allowed: ["ca", "certificate", "key", "serverName"]) {
            spec.tls.ca = tls["ca"]?.filePath()
            spec.tls.certificate = tls["certificate"]?.filePath()
            spec.tls.key = tls["key"]?.filePath()
            if (spec.tls.certificate == nil) != (spec.tls.key == nil) {
                tls.sink.report(tls.path, tls.line, "a client certificate needs both 'certificate' and 'key'")
            }
            if let name = tls["serverName"]?.nonEmptyString() {
                if name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) {
                    spec.tls.serverName = name
                } else {
                    tls["serverName"]?.report("expected a DNS name")
                }
            }
        }
        if let sign = map["signContext"]?.mapping(allowed: ["secret", "keyId"]),
            let secret = sign.required("secret")?.nonEmptyString()
        {
            if secret.utf8.count < 32 {
                sign.required("secret")?.report("must be at least 32 bytes")
            }
            spec.signContext = SignContextSpec(secret: secret, keyID: sign["keyId"]?.nonEmptyString() ?? "default")
        }
        if let credential = map["credential"] { spec.credential = self.readCredential(credential) }
        if let headers = map["headers"] { spec.headers = self.readHeaderEdits(headers) }
        if let v = map["circuitBreaker"] { spec.circuitBreaker = self.readCircuitBreaker(v) }
        if let v = map["retries"] { spec.retries = self.readRetries(v) }
        if let v = map["outlierDetection"] { spec.outlierDetection = self.readOutlierDetection(v) }
        if let v = map["healthCheck"] { spec.healthCheck = self.readHealthCheck(v) }
        if let v = map["balance"]?.choice(BalanceStrategy.self) { spec.balance = v }
        if let v = map["http2"]?.bool() { spec.http2 = v }
        return spec
    }

    private func readRoute(index: Int, _ value: YAMLValue) -> RouteSpec? {
        guard
            let map = value.mapping(allowed: [
                "name", "match", "backend", "backends", "rewriteModel", "maxRequestBytes", "forwardClientCredentials",
                "authentication", "unknownFields", "externalAuthorization", "headers", "fallbacks", "connectTimeout",
                "responseTimeout", "idleTimeout", "totalTimeout",
            ])
        else { return nil }
        var models: [String] = []
        var prefix: String?
        var catchAll = false
        if let match = map.required("match")?.mapping(allowed: ["model", "models", "pathPrefix", "catchAll"]) {
            if let m = match["model"]?.nonEmptyString() { models.append(m) }
            if let ms = match["models"]?.stringList() { models += ms }
            prefix = match["pathPrefix"]?.nonEmptyString()
            catchAll = match["catchAll"]?.bool() ?? false
            if catchAll && (!models.isEmpty || prefix != nil) {
                match.sink.report(match.path, match.line, "a catch-all route matches everything: it names no model or pathPrefix")
            } else if models.isEmpty && prefix == nil && !catchAll {
                match.sink.report(match.path, match.line, "a route matches on model, models, pathPrefix or catchAll: true")
            }
            if !models.isEmpty && prefix != nil {
                match.sink.report(match.path, match.line, "a route matches on models or on a pathPrefix, not both")
            }
        }
        var backends: [String] = []
        var weights: [Int]?
        switch (map["backend"], map["backends"]) {
        case (let one?, nil): backends = one.nonEmptyString().map { [$0] } ?? []
        case (nil, let many?): (backends, weights) = self.readRouteBackends(many)
        case (_?, _?): map.sink.report(map.path, map.line, "a route names 'backend' or 'backends', not both")
        case (nil, nil): _ = map.required("backend")
        }
        if map["backends"] != nil && backends.isEmpty { map["backends"]?.report("must list at least one backend") }
        guard !backends.isEmpty else { return nil }
        var spec = RouteSpec(
            name: map["name"]?.nonEmptyString() ?? "route-\(index)",
            models: models, pathPrefix: prefix, backends: backends,
            rewriteModel: map["rewriteModel"]?.nonEmptyString(),
            maxRequestBytes: map["maxRequestBytes"]?.size(min: 1),
            location: .init(path: value.path, line: value.line))
        spec.catchAll = catchAll
        spec.weights = weights
        if let v = map["fallbacks"]?.stringList() { spec.fallbacks = v }
        spec.connectTimeoutNanos = map["connectTimeout"]?.duration()
        spec.responseTimeoutNanos = map["responseTimeout"]?.duration()
        spec.idleTimeoutNanos = map["idleTimeout"]?.duration()
        spec.totalTimeoutNanos = map["totalTimeout"]?.duration()
        if let headers = map["headers"] { spec.headers = self.readHeaderEdits(headers) }
        if let v = map["forwardClientCredentials"]?.bool() { spec.forwardClientCredentials = v }
        if let policy = map["authentication"] { spec.authentication = self.readPolicy(policy, allowRequired: false) }
        spec.externalAuthorization = map["externalAuthorization"]?.nonEmptyString()
        if let v = map["unknownFields"]?.oneOf(RouteSpec.UnknownFields.allCases.map(\.rawValue)) {
            spec.unknownFields = RouteSpec.UnknownFields(rawValue: v)!
        }
        return spec
    }

    private func readTracing(_ value: YAMLValue) -> TracingSpec? {
        guard let map = value.mapping(allowed: ["endpoint", "protocol", "serviceName", "sampleRatio", "exportInterval"]),
            let endpointValue = map.required("endpoint"), let endpoint = endpointValue.nonEmptyString()
        else { return nil }
        // The one URL grammar the config knows (a backend endpoint's): http(s)://host[:port][/path].
        guard case .success = UpstreamEndpoint.parse(endpoint) else {
            endpointValue.report("expected an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces, got \(endpointValue.shown(endpoint))")
            return nil
        }
        var spec = TracingSpec(endpoint: endpoint, location: .init(path: value.path, line: value.line))
        if let v = map["protocol"]?.oneOf(["http/protobuf", "http/json"]) { spec.format = TracingSpec.WireFormat(rawValue: v)! }
        if let v = map["serviceName"]?.nonEmptyString() { spec.serviceName = v }
        if let v = map["exportInterval"]?.duration() { spec.exportIntervalNanos = max(v, 10_000_000) }
        if let ratio = map["sampleRatio"] {
            if let text = ratio.string() {
                if let v = Double(text), v >= 0, v <= 1 { spec.sampleRatio = v } else {
                    ratio.report("expected a number from 0 to 1, got \(ratio.shown(text))")
                }
            }
        }
        return spec
    }

    private func readMock(_ value: YAMLValue) -> MockSpec? {
        var spec = MockSpec()
        guard let map = value.mapping(allowed: ["models", "chunks", "chunkDelay"]) else { return nil }
        if let v = map["models"]?.stringList() { spec.models = v }
        if let v = map["chunks"]?.int(min: 1, max: 10_000) { spec.chunks = v }
        if let v = map["chunkDelay"]?.duration() { spec.chunkDelayNanos = v }
        return spec
    }

    /// `host:port`, `[v6]:port`.
    static func address(_ value: YAMLValue) -> (String, Int)? {
        guard let text = value.nonEmptyString() else { return nil }
        guard let (host, port) = Self.splitHostPort(text) else {
            value.report("expected HOST:PORT such as 127.0.0.1:8080, got \(value.shown(text))")
            return nil
        }
        return (host, port)
    }

    public static func splitHostPort(_ text: String) -> (String, Int)? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
