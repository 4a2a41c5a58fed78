extension ConfigReader {
    func readExternalAuthorization(name: String, _ value: YAMLValue) -> ExternalAuthorizationSpec? {
        guard
            let map = value.mapping(allowed: [
                "url", "protocol", "timeout", "clientHeaders", "includeBody", "upstreamHeaders", "failureMode", "statusOnError",
            ]), let url = map.required("url")?.nonEmptyString()
        else { return nil }
        var spec = ExternalAuthorizationSpec(name: name, url: url, location: .init(path: value.path, line: value.line))
        if let v = map["protocol"]?.oneOf(ExternalAuthorizationSpec.WireProtocol.allCases.map(\.rawValue)) {
            spec.wireProtocol = ExternalAuthorizationSpec.WireProtocol(rawValue: v)!
        }
        if let v = map["timeout"]?.duration() {
            if v <= 0 { map["timeout"]?.report("must be more than 0") } else { spec.timeoutNanos = v }
        }
        if let v = map["clientHeaders"]?.stringList() { spec.clientHeaders = v.map { $0.lowercased() } }
        if let v = map["upstreamHeaders"]?.stringList() { spec.upstreamHeaders = v.map { $0.lowercased() } }
        if let v = map["includeBody"]?.size(min: 0) { spec.includeBody = v }
        if let v = map["failureMode"]?.oneOf(ExternalAuthorizationSpec.FailureMode.allCases.map(\.rawValue)) {
            spec.failureMode = ExternalAuthorizationSpec.FailureMode(rawValue: v)!
        }
        if let v = map["statusOnError"]?.int(min: 400, max: 599) { spec.statusOnError = v }
        return spec
    }
}

extension ConfigReader {
    func readAuthz(_ value: YAMLValue) -> AuthzServerSpec? {
        guard let map = value.mapping(allowed: ["address", "listener", "leaseTimeout", "maxLeases"]),
            let address = map.required("address"), let (host, port) = Self.address(address)
        else { return nil }
        var spec = AuthzServerSpec(host: host, port: port, location: .init(path: value.path, line: value.line))
        spec.listener = map["listener"]?.nonEmptyString()
        if let v = map["leaseTimeout"]?.duration() {
            if v <= 0 { map["leaseTimeout"]?.report("must be more than 0") } else { spec.leaseNanos = v }
        }
        if let v = map["maxLeases"]?.int(min: 1, max: 10_000_000) { spec.maxLeases = v }
        return spec
    }
}
