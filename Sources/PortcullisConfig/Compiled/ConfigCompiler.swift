import PortcullisCore

/// Turns a ``ConfigFile`` into a ``ConfigSnapshot``, cross-checking everything (routes name
/// existing backends, URLs parse, names are unique). All validation happens here, so the
/// request path never meets a config error.
public struct ConfigCompiler: Sendable {
    /// Address of the in-process mock, substituted for `builtin:mock` endpoints.
    public var builtinMockAddress: (host: String, port: Int)?
    public var createdTimestamp: Int

    public init(builtinMockAddress: (host: String, port: Int)? = nil, createdTimestamp: Int = 1_700_000_000) {
        self.builtinMockAddress = builtinMockAddress
        self.createdTimestamp = createdTimestamp
    }

    public static let builtinMockEndpoint = "builtin:mock"

    public func compile(_ file: ConfigFile) throws(ConfigError) -> ConfigSnapshot {
        let sink = DiagnosticSink()
        func report(_ location: SourceLocation, _ suffix: String, _ message: String) {
            sink.report(suffix.isEmpty ? location.path : "\(location.path).\(suffix)", location.line, message)
        }

        if file.listeners.isEmpty {
            sink.report("listeners", nil, "at least one listener is required")
        }
        var listenerNames: Set<String> = []
        var addresses: Set<String> = []
        for listener in file.listeners {
            if !listenerNames.insert(listener.name).inserted {
                report(listener.location, "name", "duplicate listener name '\(listener.name)'")
            }
            if listener.port != 0 && !addresses.insert("\(listener.host):\(listener.port)").inserted {
                report(listener.location, "address", "two listeners use \(listener.host):\(listener.port)")
            }
        }
        if let admin = file.admin, admin.port != 0, addresses.contains("\(admin.host):\(admin.port)") {
            sink.report("admin.address", nil, "the admin listener shares an address with a data listener")
        }

        // Backends.
        var backends: [Backend] = []
        var backendsByName: [String: Backend] = [:]
        for spec in file.backends {
            if spec.endpoints.isEmpty {
                report(spec.location, "endpoints", "a backend needs at least one endpoint")
            }
            var endpoints: [UpstreamEndpoint] = []
            for (i, url) in spec.endpoints.enumerated() {
                if url == Self.builtinMockEndpoint {
                    guard file.mock != nil else {
                        report(spec.location, "endpoints[\(i)]", "'builtin:mock' needs a top-level 'mock:' section")
                        continue
                    }
                    let address = self.builtinMockAddress ?? ("127.0.0.1", 1)
                    endpoints.append(UpstreamEndpoint(scheme: .http, host: address.host, port: address.port))
                    continue
                }
                switch UpstreamEndpoint.parse(url) {
                case .success(let endpoint): endpoints.append(endpoint)
                case .failure(let problem):
                    report(
                        spec.location, "endpoints[\(i)]",
                        "invalid endpoint URL '\(url)' (\(problem)); expected http(s)://host[:port][/path]")
                }
            }
            let backend = Backend(spec: spec, index: backends.count, endpoints: endpoints)
            backends.append(backend)
            backendsByName[spec.name] = backend
        }

        // Routes.
        var exact: [String: Route] = [:]
        var globs: [(Glob, Route)] = []
        var prefixes: [(String, Route)] = []
        var exposed: [(String, String)] = []
        var routeNames: Set<String> = []
        for spec in file.routes {
            if !routeNames.insert(spec.name).inserted {
                report(spec.location, "name", "duplicate route name '\(spec.name)'")
            }
            guard let backend = backendsByName[spec.backend] else {
                let known = backendsByName.keys.sorted().joined(separator: ", ")
                report(spec.location, "backend", "unknown backend '\(spec.backend)' (defined: \(known.isEmpty ? "none" : known))")
                continue
            }
            let route = Route(
                name: spec.name, backend: backend, rewriteModel: spec.rewriteModel,
                maxRequestBytes: spec.maxRequestBytes ?? file.http.maxRequestBytes, isPathRoute: spec.pathPrefix != nil)
            for model in spec.models {
                let glob = Glob(model)
                if glob.isLiteral {
                    if exact[model] != nil {
                        report(spec.location, "match", "model '\(model)' is already routed by an earlier route")
                    } else {
                        exact[model] = route
                        exposed.append((model, backend.name))
                    }
                } else {
                    globs.append((glob, route))
                }
            }
            if let prefix = spec.pathPrefix {
                switch RequestTarget.parse(prefix) {
                case .success(let target) where target.query == nil && target.path == prefix:
                    if prefixes.contains(where: { $0.0 == prefix }) {
                        report(spec.location, "match.pathPrefix", "path prefix '\(prefix)' is already routed")
                    }
                    if Self.fixedEndpoints.contains(prefix) {
                        report(spec.location, "match.pathPrefix", "'\(prefix)' is a built-in OpenAI endpoint")
                    }
                    prefixes.append((prefix, route))
                default:
                    report(
                        spec.location, "match.pathPrefix",
                        "'\(prefix)' must be a normalised absolute path (no '..', '//', '%2F', query)")
                }
            }
        }
        if !sink.items.isEmpty { throw ConfigError(sink.items) }
        return ConfigSnapshot(
            source: file, backends: backends, router: Router(exact: exact, globs: globs, prefixes: prefixes),
            exposedModels: exposed, created: self.createdTimestamp)
    }

    static let fixedEndpoints: Set<String> = [
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
    ]
}
