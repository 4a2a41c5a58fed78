import PortcullisCore

extension ConfigReader {
    /// Keys of the counted limits (rates, quotas, concurrency) and their modifiers.
    static let countedLimitKeys = LimitName.allCases.filter(\.isCounted).map(\.rawValue) + ["burst", "tokenType", "onStoreFailure"]
    /// Keys only a plan or tenant sets: the per-request caps.
    static let capKeys = ["maxRequestBytes", "maxPromptTokens", "maxTokens", "defaultMaxTokens"]

    /// A `limits:` mapping: a plan's or tenant's (`caps`: with the per-request caps and a
    /// `shadow` list) or a top-level rule's own keys.
    func readLimits(_ value: YAMLValue, caps: Bool) -> LimitsSpec {
        var spec = LimitsSpec()
        guard let map = value.mapping(allowed: Self.countedLimitKeys + (caps ? Self.capKeys + ["shadow", "ceiling"] : [])) else {
            return spec
        }
        for name in LimitName.allCases where name.isCounted {
            spec[name] = map[name.rawValue].flatMap { Self.limitValue(name, $0) }
        }
        spec.burst = map["burst"]?.int(min: 1)
        spec.tokenType = map["tokenType"]?.choice(TokenKind.self)
        spec.onStoreFailure = map["onStoreFailure"]?.choice(StoreFailureMode.self)
        guard caps else { return spec }
        spec.maxRequestBytes = map["maxRequestBytes"]?.size(min: 1)
        spec.maxPromptTokens = map["maxPromptTokens"]?.int(min: 1)
        spec.maxTokens = map["maxTokens"]?.int(min: 1)
        spec.defaultMaxTokens = map["defaultMaxTokens"]?.int(min: 1)
        if let cap = spec.maxTokens, let fallback = spec.defaultMaxTokens, fallback > cap {
            map["defaultMaxTokens"]?.report("must not exceed maxTokens (\(cap))")
        }
        spec.shadow = map["shadow"].flatMap(Self.limitNames)
        if let ceiling = map["ceiling"], let names = Self.limitNames(ceiling) {
            for name in names where !name.isReserved {
                ceiling.report("'\(name.rawValue)' cannot be a ceiling: only token quotas and budgets can (\(Self.ceilingNames))")
            }
            spec.ceiling = names.filter(\.isReserved)
        }
        return spec
    }

    /// A list of limit names (`shadow`, `ceiling`), each one known.
    static func limitNames(_ value: YAMLValue) -> [LimitName]? {
        guard let names = value.stringList() else { return nil }
        var limits: [LimitName] = []
        for name in names {
            if let limit = LimitName(rawValue: name) {
                limits.append(limit)
            } else {
                value.report("unknown limit '\(name)' (known: \(LimitName.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        return limits
    }

    /// The limits that can be ceilings, for messages.
    static let ceilingNames = LimitName.allCases.filter(\.isReserved).map(\.rawValue).joined(separator: ", ")

    /// A counted limit's value: a whole number at least 1, or for a budget an amount of dollars
    /// (`25`, `12.50`), kept in µUSD.
    static func limitValue(_ name: LimitName, _ value: YAMLValue) -> Int? {
        guard name.isBudget else { return value.int(min: 1) }
        return value.dollars(min: 1)
    }

    /// One entry of the top-level `limits:` list.
    func readLimitRule(_ value: YAMLValue) -> LimitRuleSpec? {
        let own = ["name", "per", "methods", "credentials", "routes", "models", "shadow", "ceiling"]
        guard let map = value.mapping(allowed: own + Self.countedLimitKeys) else { return nil }
        guard let name = map.required("name")?.nonEmptyString() else { return nil }
        var spec = LimitRuleSpec(name: name, location: .init(path: value.path, line: value.line))
        if let per = map["per"], let text = per.string() {
            if let scope = LimitRuleSpec.Scope(rawValue: text) {
                spec.per = scope
            } else {
                per.report("expected one of: \(LimitRuleSpec.Scope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        spec.methods = map["methods"].flatMap(self.readMethods)
        spec.credentials = map["credentials"]?.stringList()
        spec.routes = map["routes"]?.stringList()
        spec.models = map["models"]?.stringList()
        if let shadow = map["shadow"]?.bool() { spec.shadow = shadow }
        if let ceiling = map["ceiling"], let on = ceiling.bool() {
            spec.ceiling = on
            if on && spec.shadow { ceiling.report("a shadow rule is never enforced: it cannot also be a ceiling") }
        }
        // The rule's limit keys sit beside its matching keys.
        for name in LimitName.allCases where name.isCounted {
            spec.limits[name] = map[name.rawValue].flatMap { Self.limitValue(name, $0) }
        }
        spec.limits.burst = map["burst"]?.int(min: 1)
        spec.limits.tokenType = map["tokenType"]?.choice(TokenKind.self)
        spec.limits.onStoreFailure = map["onStoreFailure"]?.choice(StoreFailureMode.self)
        if spec.limits.burst != nil && !LimitName.allCases.contains(where: { $0.isRequestRate && spec.limits[$0] != nil }) {
            map["burst"]?.report("applies to a request rate, and none is set (requestsPerSecond, requestsPerMinute, requestsPerHour)")
        }
        if spec.ceiling && !LimitName.allCases.contains(where: { $0.isReserved && spec.limits[$0] != nil }) {
            map["ceiling"]?.report("applies to token quotas and budgets, and none is set (\(Self.ceilingNames))")
        } else if spec.ceiling && spec.limits.tokenType == .input && !LimitName.allCases.contains(where: { $0.isBudget && spec.limits[$0] != nil }) {
            map["ceiling"]?.report("the rule counts input tokens only, all spent before the stream starts: it cannot be a ceiling")
        }
        if !LimitName.allCases.contains(where: { $0.isCounted && spec.limits[$0] != nil }) {
            value.report("sets no limit (one of: \(LimitName.allCases.filter(\.isCounted).map(\.rawValue).joined(separator: ", ")))")
        }
        return spec
    }
}

extension ConfigReader {
    /// `limitStore:` (`redis:` and its settings; without it, counters are in memory).
    func readLimitStore(_ value: YAMLValue) -> LimitStoreSpec {
        var spec = LimitStoreSpec()
        guard let map = value.mapping(allowed: ["redis"]), let redisValue = map["redis"] else { return spec }
        let keys = [
            "address", "username", "password", "database", "connections", "timeout", "leaseTTL", "replicas", "onFailure", "keyPrefix",
        ]
        guard let redis = redisValue.mapping(allowed: keys), let address = redis.required("address"),
            let (host, port) = Self.address(address)
        else { return spec }
        guard port > 0 else {
            address.report("needs a port from 1 to 65535")
            return spec
        }
        var store = RedisStoreSpec(host: host, port: port)
        store.username = redis["username"]?.nonEmptyString()
        // An empty password (an unset variable, say) is no password.
        store.password = redis["password"]?.string().flatMap { $0.isEmpty ? nil : $0 }
        store.database = redis["database"]?.int(min: 0, max: 15)
        if let connections = redis["connections"]?.int(min: 1, max: 64) { store.connections = connections }
        if let timeout = redis["timeout"], let nanos = timeout.duration() {
            if nanos < 1_000_000 || nanos > 5_000_000_000 {
                timeout.report("must be between 1ms and 5s (a request waits this long for the store at most)")
            } else {
                store.timeoutNanos = nanos
            }
        }
        if let ttl = redis["leaseTTL"], let nanos = ttl.duration() {
            if nanos < 1_000_000_000 {
                ttl.report("must be at least 1s (leases are renewed every third of it)")
            } else {
                store.leaseTTLNanos = nanos
            }
        }
        if let replicas = redis["replicas"]?.int(min: 1, max: 10_000) { store.replicas = replicas }
        if let mode = redis["onFailure"]?.choice(StoreFailureMode.self) { store.onFailure = mode }
        if let prefix = redis["keyPrefix"]?.nonEmptyString() { store.keyPrefix = prefix }
        spec.redis = store
        return spec
    }
}

extension ConfigReader {
    /// One `prices:` entry: `MODEL: { input: DOLLARS, output: DOLLARS }`, per million tokens.
    func readPrice(model: String, _ value: YAMLValue) -> PriceSpec? {
        guard let map = value.mapping(allowed: ["input", "output"]) else { return nil }
        guard let input = map.required("input")?.dollars(), let output = map.required("output")?.dollars() else { return nil }
        return PriceSpec(
            model: model, price: ModelPrice(inputPerMillion: Int64(input), outputPerMillion: Int64(output)),
            location: .init(path: value.path, line: value.line))
    }
}
