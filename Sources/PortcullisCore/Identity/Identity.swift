/// How a caller proved who it is.
public enum AuthMethod: String, Sendable, Hashable, CaseIterable {
    case mtls
    case jwt
    case apiKey
}

/// A verified caller: the tenant it acts for and what proved it. Only the authentication
/// stage creates one; nothing a client sends is ever taken as an identity on its own.
public struct Identity: Sendable, Equatable {
    public var tenant: String
    public var org: String?
    public var plan: String?
    public var subject: String?
    public var method: AuthMethod
    /// Which credential: the API key's name, the JWT provider's name, the certificate mapping.
    public var credentialName: String

    public init(tenant: String, org: String?, plan: String?, subject: String?, method: AuthMethod, credentialName: String) {
        self.tenant = tenant
        self.org = org
        self.plan = plan
        self.subject = subject
        self.method = method
        self.credentialName = credentialName
    }
}
