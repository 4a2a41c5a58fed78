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
                case .success(let endpoint):
                    endpoints.append(
                        endpoint.trusting(caFile: spec.tls.ca, identity: spec.tls.certificate, serverName: spec.tls.serverName))
                case .failure(let problem):
                    report(
                        spec.location, "endpoints[\(i)]",
                        "invalid endpoint URL '\(url)' (\(problem)); expected http(s)://host[:port][/path]")
                }
            }
            if let credential = spec.credential,
                (spec.headers.set.map(\.name) + spec.headers.add.map(\.name) + spec.headers.remove).contains(credential.header)
            {
                report(spec.location, "headers", "header '\(credential.header)' carries the backend's credential and cannot be edited")
            }
            let backend = Backend(spec: spec, index: backends.count, endpoints: endpoints, gatewayRegion: file.region)
            backends.append(backend)
            backendsByName[spec.name] = backend
        }

        let authorizers = self.compileAuthorizers(file, report: report)

        // Routes.
        var exact: [ExactName: Router.ExactMatch] = [:]
        var compiledRoutes: [Route] = []
        var globs: [(Glob, Route)] = []
        var prefixes: [(String, Route)] = []
        var exposed: [(String, String)] = []
        var routeNames: Set<String> = []
        var catchAll: Route?
        for spec in file.routes {
            if MetricsSpec.reservedValues.contains(spec.name) {
                report(spec.location, "name", "'\(spec.name)' is reserved (a metrics label value of the gateway's own)")
            }
            if !routeNames.insert(spec.name).inserted {
                report(spec.location, "name", "duplicate route name '\(spec.name)'")
            }
            var routeBackends: [Backend] = []
            for name in spec.backends {
                guard let backend = backendsByName[name] else {
                    let known = backendsByName.keys.sorted().joined(separator: ", ")
                    report(
                        spec.location, spec.backends.count == 1 ? "backend" : "backends",
                        "unknown backend '\(name)' (defined: \(known.isEmpty ? "none" : known))")
                    continue
                }
                if routeBackends.contains(where: { $0 === backend }) {
                    report(spec.location, "backends", "backend '\(name)' is listed twice")
                }
                routeBackends.append(backend)
            }
            guard routeBackends.count == spec.backends.count, let backend = routeBackends.first else { continue }
            if spec.unknownFields == .reject && spec.pathPrefix != nil {
                report(spec.location, "unknownFields", "a path route's body is not read, so its fields cannot be checked")
            }
            var authorizer: ExternalAuthorizer?
            if let name = spec.externalAuthorization {
                authorizer = authorizers[name]
                // (One whose own spec failed is reported there, not again here.)
                if authorizer == nil && !file.externalAuthorization.contains(where: { $0.name == name }) {
                    let known = authorizers.keys.sorted().joined(separator: ", ")
                    report(spec.location, "externalAuthorization", "unknown service '\(name)' (defined: \(known.isEmpty ? "none" : known))")
                }
            }
            var fallbacks: [Backend] = []
            for name in spec.fallbacks {
                guard let fallback = backendsByName[name] else {
                    report(spec.location, "fallbacks", "unknown backend '\(name)'")
                    continue
                }
                if routeBackends.contains(where: { $0 === fallback }) || fallbacks.contains(where: { $0 === fallback }) {
                    report(spec.location, "fallbacks", "backend '\(name)' is already one of the route's backends")
                    continue
                }
                fallbacks.append(fallback)
            }
            let edits = self.compileEdits(route: spec, backends: routeBackends + fallbacks, in: file, report: report)
            let route = Route(
                name: spec.name, index: compiledRoutes.count, backends: routeBackends, rewriteModel: spec.rewriteModel,
                maxRequestBytes: spec.maxRequestBytes ?? file.http.maxRequestBytes, isPathRoute: spec.pathPrefix != nil,
                forwardClientCredentials: spec.forwardClientCredentials,
                allowedMethods: spec.authentication.methods.map(Set.init), rejectsUnknownFields: spec.unknownFields == .reject,
                authorizer: authorizer, edits: edits, isCatchAll: spec.catchAll, fallbacks: fallbacks,
                weights: spec.weights.flatMap { $0.count == routeBackends.count && $0.reduce(0, +) > 0 ? $0 : nil },
                timeouts: (spec.connectTimeoutNanos, spec.responseTimeoutNanos, spec.idleTimeoutNanos),
                totalTimeout: spec.totalTimeoutNanos)
            compiledRoutes.append(route)
            if spec.catchAll {
                if let earlier = catchAll {
                    report(spec.location, "match.catchAll", "route '\(earlier.name)' is already the catch-all")
                } else {
                    catchAll = route
                }
            }
            for model in spec.models {
                let glob = Glob(model)
                if MetricsSpec.reservedValues.contains(model) {
                    report(spec.location, "match", "'\(model)' is reserved (a metrics label value of the gateway's own)")
                }
                if glob.isLiteral {
                    if exact[ExactName(model)] != nil {
                        report(spec.location, "match", "model '\(model)' is already routed by an earlier route")
                    } else {
                        exact[ExactName(model)] = Router.ExactMatch(route: route, model: exposed.count)
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
                    if EndpointKind.fixedPaths.contains(prefix) {
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
        let authentication = self.compileAuthentication(file, report: report, sink: sink)
        let directory = self.compileTenants(file, regions: Set(backends.compactMap(\.region)), routes: compiledRoutes, report: report)
        var policies: [String: AuthenticationPolicy] = [:]
        for listener in file.listeners {
            if let methods = listener.authentication.methods {
                for method in methods where !authentication.configured.contains(method) {
                    report(listener.location, "authentication.methods", "method '\(method.rawValue)' has no credentials configured")
                }
            }
            if listener.authentication.methods?.contains(.mtls) == true
                && (listener.tls?.clientAuth ?? TLSSpec.ClientAuth.none) == .none
            {
                report(listener.location, "authentication.methods", "mtls needs tls.clientAuth optional or required")
            }
            policies[listener.name] = AuthenticationPolicy(
                methods: listener.authentication.methods.map(Set.init),
                required: listener.authentication.required ?? authentication.required)
        }
        // An `authz:` listener reads the certificate Envoy verified (`attributes.source.certificate`).
        if authentication.configured.contains(.mtls), file.authz == nil,
            !file.listeners.contains(where: { ($0.tls?.clientAuth ?? TLSSpec.ClientAuth.none) != .none })
        {
            sink.report("authentication.clientCertificates", nil, "no listener asks for client certificates (tls.clientAuth), and no authz: listener reads Envoy's")
        }
        let limitRules = self.compileLimitRules(file, report: report)
        if !sink.items.isEmpty { throw ConfigError(sink.items) }
        return ConfigSnapshot(
            source: file, backends: backends, routes: compiledRoutes,
            router: Router(exact: exact, globs: globs, prefixes: prefixes, catchAll: catchAll),
            exposedModels: exposed, created: self.createdTimestamp, authentication: authentication, tenants: directory,
            listenerPolicies: policies, limitRules: limitRules)
    }

    private func compileAuthentication(
        _ file: ConfigFile, report: (SourceLocation, String, String) -> Void, sink: DiagnosticSink
    ) -> AuthenticationSettings {
        let spec = file.authentication
        if let plan = spec.unknownTenantPlan, !file.plans.contains(where: { $0.name == plan }) {
            sink.report("authentication.unknownTenantPlan", nil, "unknown plan '\(plan)'")
        }
        var apiKeys: [KeyDigest: APIKeyEntry] = [:]
        var keyNames: Set<String> = []
        for key in spec.apiKeys {
            if !keyNames.insert(key.name).inserted { report(key.location, "name", "duplicate API key name '\(key.name)'") }
            guard let digest = KeyDigest(hex: key.sha256) else { continue }  // reported by the reader
            if apiKeys[digest] != nil { report(key.location, "sha256", "the same key is listed twice") }
            Self.checkIdentityText(key.tenant, at: key.location, "tenant", report: report)
            apiKeys[digest] = APIKeyEntry(name: key.name, tenant: key.tenant, disabled: key.disabled)
        }
        var providers: [JWTProviderConfig] = []
        var issuers: Set<String> = []
        var providerNames: Set<String> = []
        for provider in spec.jwt {
            if !providerNames.insert(provider.name).inserted {
                report(provider.location, "name", "duplicate JWT provider name '\(provider.name)'")
            }
            if !issuers.insert(provider.issuer).inserted {
                report(provider.location, "issuer", "two providers share the issuer '\(provider.issuer)'")
            }
            var algorithms: Set<JWSAlgorithm> = []
            for name in provider.algorithms {
                if name.lowercased() == "none" {
                    report(provider.location, "algorithms", "'none' is never accepted")
                } else if let algorithm = JWSAlgorithm(rawValue: name) {
                    algorithms.insert(algorithm)
                } else {
                    let known = JWSAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
                    report(provider.location, "algorithms", "unknown algorithm '\(name)' (supported: \(known))")
                }
            }
            let hasJWKS = provider.jwksURI != nil || provider.jwksFile != nil
            let hmac = algorithms.filter(\.isHMAC)
            if let secret = provider.secret {
                if hasJWKS { report(provider.location, "secret", "a provider uses a JWKS or a shared secret, not both") }
                if hmac.count != algorithms.count {
                    report(provider.location, "algorithms", "a shared-secret provider accepts only HS256, HS384 or HS512")
                }
                if secret.utf8.count < 32 { report(provider.location, "secret", "must be at least 32 bytes") }
            } else {
                if !hasJWKS { report(provider.location, "jwks", "a provider needs jwks (uri or file) or a secret") }
                if !hmac.isEmpty {
                    report(provider.location, "algorithms", "HMAC algorithms need an explicit shared secret, never a JWKS")
                }
            }
            if let uri = provider.jwksURI, !(uri.hasPrefix("https://") || uri.hasPrefix("http://")) {
                report(provider.location, "jwks.uri", "expected an http(s) URL")
            }
            providers.append(JWTProviderConfig(spec: provider, algorithms: algorithms))
        }
        var mappings: [CertificateMapping] = []
        for mapping in spec.clientCertificates {
            Self.checkIdentityText(mapping.tenant, at: mapping.location, "tenant", report: report)
            if let spiffe = mapping.spiffe {
                mappings.append(CertificateMapping(name: mapping.name, field: .spiffe, pattern: Glob(spiffe), tenant: mapping.tenant))
            } else if let dns = mapping.dns {
                mappings.append(CertificateMapping(name: mapping.name, field: .dns, pattern: Glob(dns.lowercased()), tenant: mapping.tenant))
            } else if let cn = mapping.commonName {
                mappings.append(CertificateMapping(name: mapping.name, field: .commonName, pattern: Glob(cn), tenant: mapping.tenant))
            }
        }
        var configured: Set<AuthMethod> = []
        if !apiKeys.isEmpty { configured.insert(.apiKey) }
        if !providers.isEmpty { configured.insert(.jwt) }
        if !mappings.isEmpty { configured.insert(.mtls) }
        var exact: Set<String> = []
        var prefixes: [String] = []
        for name in spec.reservedHeaders {
            if name.hasSuffix("*") { prefixes.append(String(name.dropLast())) } else { exact.insert(name) }
        }
        if Set(spec.order).count != spec.order.count {
            sink.report("authentication.order", nil, "a method is listed twice")
        }
        let order = spec.order + AuthMethod.allCases.filter { !spec.order.contains($0) }
        return AuthenticationSettings(
            order: order, configured: configured, required: spec.required ?? !configured.isEmpty, apiKeys: apiKeys,
            jwtProviders: providers, certificateMappings: mappings, reservedExact: exact, reservedPrefixes: prefixes,
            requireKnownTenant: spec.requireKnownTenant ?? !file.tenants.isEmpty, unknownTenantPlan: spec.unknownTenantPlan,
            tokenCacheSize: spec.tokenCacheSize)
    }

    /// Tenant, org and plan names go to backends in headers (``IdentityText``).
    static func checkIdentityText(
        _ text: String, at location: SourceLocation, _ key: String, report: (SourceLocation, String, String) -> Void
    ) {
        guard !IdentityText.isSafe(text) else { return }
        report(location, key, "'\(text)' cannot be carried in a header: use 1-256 printable ASCII characters without space , ; \" or \\")
    }
}
