import PortcullisCore

/// A compiled external authorization service (``ExternalAuthorizationSpec``): its URL parsed,
/// its header lists ready for the request path.
public final class ExternalAuthorizer: Sendable {
    public let spec: ExternalAuthorizationSpec
    public let endpoint: UpstreamEndpoint
    /// Exact names the answer may set upstream.
    private let upstreamExact: Set<String>
    /// Prefixes (`x-policy-*`) the answer may set upstream; never identity or credential names.
    private let upstreamPrefixes: [String]

    public var name: String { self.spec.name }
    public var timeout: Int64 { self.spec.timeoutNanos }

    init(spec: ExternalAuthorizationSpec, endpoint: UpstreamEndpoint) {
        self.spec = spec
        self.endpoint = endpoint
        self.upstreamExact = Set(spec.upstreamHeaders.filter { !$0.hasSuffix("*") })
        self.upstreamPrefixes = spec.upstreamHeaders.filter { $0.hasSuffix("*") }.map { String($0.dropLast()) }
    }

    /// Headers that may never be set by an answer: they frame or route the request.
    public static let framingHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
        "proxy-connection", "expect", "x-request-id", ":authority", ":path", ":method", ":scheme",
    ]

    /// Headers an answer may set only when listed by exact name.
    public static func isProtected(_ lowercasedName: String) -> Bool {
        lowercasedName.hasPrefix("x-tenant-") || lowercasedName.hasPrefix("x-portcullis-") || lowercasedName == "authorization"
            || lowercasedName == "x-api-key" || lowercasedName.hasPrefix("x-forwarded-") || lowercasedName == "forwarded"
    }

    /// Whether an answer may set `lowercasedName` on the upstream request.
    public func allowsUpstream(_ lowercasedName: String) -> Bool {
        if Self.framingHeaders.contains(lowercasedName) { return false }
        if self.upstreamExact.contains(lowercasedName) { return true }
        if Self.isProtected(lowercasedName) { return false }
        return self.upstreamPrefixes.contains { lowercasedName.hasPrefix($0) }
    }
}
