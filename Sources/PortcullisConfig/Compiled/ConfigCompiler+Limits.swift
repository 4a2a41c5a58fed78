import PortcullisCore

extension ConfigCompiler {
    /// The top-level `limits:` entries: unique names, known routes and credentials.
    func compileLimitRules(_ file: ConfigFile, report: (SourceLocation, String, String) -> Void) -> [LimitRule] {
        var names: Set<String> = []
        let routes = Set(file.routes.map(\.name))
        let credentials = Set(
            file.authentication.jwt.map(\.name) + file.authentication.apiKeys.map(\.name)
                + file.authentication.clientCertificates.map(\.name))
        var rules: [LimitRule] = []
        for spec in file.limits {
            if !names.insert(spec.name).inserted {
                report(spec.location, "name", "limit '\(spec.name)' is defined twice")
            }
            Self.checkIdentityText(spec.name, at: spec.location, "name", report: report)
            for route in spec.routes ?? [] where !routes.contains(route) {
                report(spec.location, "routes", "unknown route '\(route)'")
            }
            for credential in spec.credentials ?? [] where !credentials.contains(credential) {
                report(spec.location, "credentials", "no JWT provider, API key or client-certificate mapping is named '\(credential)'")
            }
            if LimitName.allCases.contains(where: { $0.isBudget && spec.limits[$0] != nil }) && file.prices.isEmpty {
                report(spec.location, "limits", "a budget needs prices: (what each model's tokens cost)")
            }
            rules += LimitRule.rules(of: spec, from: rules.count)
        }
        return rules
    }
}
