import PortcullisCore

/// A top-level limit (`limits:`), beside the plans': counted per tenant, per user, per
/// credential or for everyone together, over the requests it matches (by authentication
/// method, credential provider, route and model; a key left out matches everything). The
/// reference deployment's "JWT-authenticated users get 500 requests/min" is one of these.
public struct LimitRuleSpec: Sendable {
    /// What one counter is shared by.
    public enum Scope: String, Sendable, CaseIterable {
        /// All matching requests together.
        case global
        /// Each tenant.
        case tenant
        /// Each user: the tenant and the credential's subject (`sub`, certificate identity).
        case user
        /// Each credential entry (an API key's name, a JWT provider, a certificate mapping).
        case credential
        /// Each model, by the name the client gave it (anonymous callers too, as for `global`;
        /// a request without a model, a path route's, is not counted): "10,000 tokens an hour
        /// per model" in one rule.
        case model
    }

    public var name: String
    public var per = Scope.tenant
    public var methods: [AuthMethod]?
    /// JWT provider names, API key names or certificate mapping names.
    public var credentials: [String]?
    public var routes: [String]?
    public var models: [String]?
    /// Rates, quotas and concurrency (`maxTokens`, `defaultMaxTokens` and the caps are plan keys).
    public var limits = LimitsSpec()
    /// The whole rule is evaluated and counted but never refuses.
    public var shadow = false
    /// The rule's token quotas and budgets are hard ceilings (see ``LimitsSpec/ceiling``).
    public var ceiling = false
    public var location: SourceLocation
}
