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
