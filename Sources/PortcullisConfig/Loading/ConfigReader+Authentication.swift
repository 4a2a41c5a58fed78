import PortcullisCore

extension ConfigReader {
    func readTLS(_ value: YAMLValue) -> TLSSpec? {
        guard
            let map = value.mapping(allowed: ["certificate", "key", "clientCA", "clientAuth", "minVersion", "reloadInterval"]),
            let certificate = map.required("certificate")?.filePath(),
            let key = map.required("key")?.filePath()
        else { return nil }
        var spec = TLSSpec(certificate: certificate, key: key, location: .init(path: value.path, line: value.line))
        spec.clientCA = map["clientCA"]?.filePath()
        if let mode = map["clientAuth"]?.oneOf(["none", "optional", "required"]) {
            spec.clientAuth = TLSSpec.ClientAuth(rawValue: mode)!
        }
        if spec.clientAuth != .none && spec.clientCA == nil {
            value.sink.report("\(value.path).clientCA", value.line, "clientAuth '\(spec.clientAuth.rawValue)' needs a clientCA bundle")
        }
        if let version = map["minVersion"]?.oneOf(["1.2", "1.3"]) { spec.minimumVersion = version }
        if let interval = map["reloadInterval"]?.durationOrOff() { spec.reloadIntervalNanos = interval }
        return spec
    }

    func readHTTP2(_ value: YAMLValue) -> HTTP2Spec {
        var spec = HTTP2Spec()
        guard let map = value.mapping(allowed: ["enabled", "maxConcurrentStreams", "maxResetsPerWindow", "resetWindow"]) else {
            return spec
        }
        if let v = map["enabled"]?.bool() { spec.enabled = v }
        if let v = map["maxConcurrentStreams"]?.int(min: 1, max: 10_000) { spec.maxConcurrentStreams = v }
        if let v = map["maxResetsPerWindow"]?.int(min: 1, max: 1_000_000) { spec.maxResetsPerWindow = v }
        if let v = map["resetWindow"]?.duration() { spec.resetWindowNanos = v }
        return spec
    }

    func readMethods(_ value: YAMLValue) -> [AuthMethod]? {
        guard let names = value.stringList() else { return nil }
        var methods: [AuthMethod] = []
        for name in names {
            guard let method = AuthMethod(rawValue: name) else {
                value.report("unknown authentication method '\(name)' (expected mtls, jwt or apiKey)")
                return nil
            }
            methods.append(method)
        }
        return methods
    }

    func readPolicy(_ value: YAMLValue, allowRequired: Bool) -> AuthenticationPolicySpec {
        var spec = AuthenticationPolicySpec()
        guard let map = value.mapping(allowed: allowRequired ? ["methods", "required"] : ["methods"]) else { return spec }
        if let methods = map["methods"] { spec.methods = self.readMethods(methods) }
        if allowRequired, let required = map["required"]?.bool() { spec.required = required }
        return spec
    }

    func readAuthentication(_ value: YAMLValue) -> AuthenticationSpec {
        var spec = AuthenticationSpec()
        guard
            let map = value.mapping(allowed: [
                "order", "required", "jwt", "apiKeys", "clientCertificates", "reservedHeaders", "requireKnownTenant", "unknownTenantPlan",
                "tokenCacheSize",
            ])
        else { return spec }
        if let order = map["order"], let methods = self.readMethods(order) { spec.order = methods }
        spec.required = map["required"]?.bool()
        if let v = map["requireKnownTenant"]?.bool() { spec.requireKnownTenant = v }
        if let v = map["unknownTenantPlan"]?.nonEmptyString() { spec.unknownTenantPlan = v }
        if let v = map["tokenCacheSize"]?.int(min: 0, max: 10_000_000) { spec.tokenCacheSize = v }
        if let v = map["reservedHeaders"]?.stringList() { spec.reservedHeaders = v.map { $0.lowercased() } }
        if let providers = map["jwt"]?.sequence() {
            spec.jwt = providers.compactMap(self.readJWTProvider)
        }
        if let keys = map["apiKeys"]?.sequence() {
            spec.apiKeys = keys.enumerated().compactMap { self.readAPIKey(index: $0.offset, $0.element) }
        }
        if let mappings = map["clientCertificates"]?.sequence() {
            spec.clientCertificates = mappings.enumerated().compactMap { self.readCertificateMapping(index: $0.offset, $0.element) }
        }
        return spec
    }

    private func readJWTProvider(_ value: YAMLValue) -> JWTProviderSpec? {
        guard
            let map = value.mapping(allowed: [
                "name", "issuer", "audiences", "algorithms", "jwks", "secret", "clockSkew", "requireExpiry", "claims",
                "maxTokenBytes",
            ]),
            let name = map.required("name")?.nonEmptyString(),
            let issuer = map.required("issuer")?.nonEmptyString(),
            let audiences = map.required("audiences")?.stringList()
        else { return nil }
        if audiences.isEmpty {
            map.required("audiences")?.report("list at least one audience the gateway accepts")
        }
        var spec = JWTProviderSpec(
            name: name, issuer: issuer, audiences: audiences, algorithms: ["RS256", "ES256"],
            location: .init(path: value.path, line: value.line))
        if let algorithms = map["algorithms"]?.stringList() { spec.algorithms = algorithms }
        if let jwks = map["jwks"]?.mapping(allowed: [
            "uri", "file", "refresh", "minRefetchInterval", "timeout", "refetchWait", "maxBytes", "ca",
        ]) {
            spec.jwksURI = jwks["uri"]?.nonEmptyString()
            spec.jwksFile = jwks["file"]?.filePath()
            spec.jwksCA = jwks["ca"]?.filePath()
            if let v = jwks["refresh"]?.duration() { spec.refreshIntervalNanos = v }
            if let v = jwks["minRefetchInterval"]?.duration() { spec.minRefetchIntervalNanos = v }
            if let v = jwks["timeout"]?.duration() { spec.fetchTimeoutNanos = v }
            if let v = jwks["refetchWait"]?.duration() { spec.refetchWaitNanos = v }
            if let v = jwks["maxBytes"]?.size(min: 64) { spec.maxJWKSBytes = v }
            if (spec.jwksURI == nil) == (spec.jwksFile == nil) {
                jwks.sink.report(jwks.path, jwks.line, "give exactly one of uri or file")
            }
        }
        spec.secret = map["secret"]?.nonEmptyString()
        if let v = map["clockSkew"]?.duration() { spec.clockSkewNanos = v }
        if let v = map["requireExpiry"]?.bool() { spec.requireExpiry = v }
        if let v = map["maxTokenBytes"]?.size(min: 256) { spec.maxTokenBytes = v }
        if let claims = map["claims"]?.mapping(allowed: ["tenant", "org", "plan", "subject"]) {
            if let v = claims["tenant"]?.nonEmptyString() { spec.claims.tenant = v }
            if let v = claims["org"]?.nonEmptyString() { spec.claims.org = v }
            if let v = claims["plan"]?.nonEmptyString() { spec.claims.plan = v }
            if let v = claims["subject"]?.nonEmptyString() { spec.claims.subject = v }
        }
        return spec
    }

    private func readAPIKey(index: Int, _ value: YAMLValue) -> APIKeySpec? {
        guard
            let map = value.mapping(allowed: ["name", "tenant", "sha256", "disabled"]),
            let tenant = map.required("tenant")?.nonEmptyString(),
            let hash = map.required("sha256")?.nonEmptyString()
        else { return nil }
        let lower = hash.lowercased()
        if lower.utf8.count != 64 || !lower.allSatisfy({ $0.isHexDigit }) {
            map.required("sha256")?.report("expected 64 hex digits (portcullis hash-key prints them)")
        }
        var spec = APIKeySpec(
            name: map["name"]?.nonEmptyString() ?? "key-\(index)", tenant: tenant, sha256: lower,
            location: .init(path: value.path, line: value.line))
        if let v = map["disabled"]?.bool() { spec.disabled = v }
        return spec
    }

    private func readCertificateMapping(index: Int, _ value: YAMLValue) -> ClientCertificateSpec? {
        guard
            let map = value.mapping(allowed: ["name", "spiffe", "dns", "commonName", "tenant"]),
            let tenant = map.required("tenant")?.nonEmptyString()
        else { return nil }
        let spec = ClientCertificateSpec(
            name: map["name"]?.nonEmptyString() ?? "certificate-\(index)", spiffe: map["spiffe"]?.nonEmptyString(),
            dns: map["dns"]?.nonEmptyString(), commonName: map["commonName"]?.nonEmptyString(), tenant: tenant,
            location: .init(path: value.path, line: value.line))
        let given = [spec.spiffe, spec.dns, spec.commonName].compactMap { $0 }.count
        if given != 1 {
            value.report("give exactly one of spiffe, dns or commonName")
        }
        if let spiffe = spec.spiffe, !spiffe.hasPrefix("spiffe://") {
            value.sink.report("\(value.path).spiffe", value.line, "a SPIFFE ID starts with spiffe://")
        }
        return spec
    }

    func readTenant(name: String, _ value: YAMLValue) -> TenantSpec? {
        guard let map = value.mapping(allowed: ["plan", "org", "disabled", "status", "reason"] + Self.policyKeys) else { return nil }
        var spec = TenantSpec(name: name, location: .init(path: value.path, line: value.line))
        spec.plan = map["plan"]?.nonEmptyString()
        spec.org = map["org"]?.nonEmptyString()
        if let v = map["disabled"]?.bool() { spec.disabled = v }
        if let status = map["status"]?.oneOf(["active", "suspended"]), status == "suspended" {
            // The operator's words go to the client: plain printable text, bounded.
            let reasonValue = map["reason"]
            let reason = reasonValue?.nonEmptyString() ?? "This account is suspended."
            if reason.utf8.count > 256 || reason.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                reasonValue?.report("a suspension reason is at most 256 bytes of text without control characters")
            } else {
                spec.suspendedReason = reason
            }
        } else if map["reason"] != nil {
            map["reason"]?.report("a reason is only given with status: suspended")
        }
        if Self.policyKeys.contains(where: { map[$0] != nil }) {
            var overrides = PlanSpec(name: name, location: spec.location)
            self.readPolicy(map, into: &overrides)
            spec.overrides = overrides
        }
        return spec
    }

    /// The keys a plan sets and a tenant may override.
    static let policyKeys = ["models", "routes", "features", "forbiddenFields", "regions", "limits"]

    func readPlan(name: String, _ value: YAMLValue) -> PlanSpec? {
        guard let map = value.mapping(allowed: Self.policyKeys) else { return nil }
        var spec = PlanSpec(name: name, location: .init(path: value.path, line: value.line))
        self.readPolicy(map, into: &spec)
        return spec
    }

    private func readPolicy(_ map: YAMLMap, into spec: inout PlanSpec) {
        spec.models = map["models"]?.stringList()
        spec.routes = map["routes"]?.stringList()
        spec.regions = map["regions"]?.stringList()
        spec.forbiddenFields = map["forbiddenFields"]?.stringList()
        if let value = map["features"], let names = value.stringList() {
            var features: [RequestFeature] = []
            for name in names {
                if let feature = RequestFeature(rawValue: name) {
                    features.append(feature)
                } else {
                    value.report("unknown feature '\(name)' (known: \(RequestFeature.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            spec.features = features
        }
        if let limits = map["limits"] {
            spec.limits = self.readLimits(limits, caps: true)
        }
    }
}
