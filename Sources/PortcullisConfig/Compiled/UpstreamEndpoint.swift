/// One upstream endpoint of a backend, parsed once from its URL.
public struct UpstreamEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case http, https
    }

    public let scheme: Scheme
    public let host: String
    public let port: Int
    /// Path prefix from the URL (`https://host/openai` → `/openai`), empty when none.
    public let basePath: String
    /// Value of the `Host` header sent upstream.
    public let hostHeader: String
    /// Identity of the endpoint: `scheme://host:port`.
    public let key: String
    /// Identity for connection pooling: the key plus the trust the TLS connection was verified
    /// with, so a connection verified against one backend's CA is never lent to a backend that
    /// trusts something else.
    public private(set) var poolKey: String

    public init(scheme: Scheme, host: String, port: Int, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
        let defaultPort = scheme == .http ? 80 : 443
        let bracketed = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
        self.key = "\(scheme.rawValue)://\(bracketed):\(port)"
        self.poolKey = self.key
    }

    /// This endpoint as reached with the trust anchors in `caFile` (nil: system roots), the
    /// client certificate `identity` (nil: none) and the SNI name `serverName`: a pooled TLS
    /// connection is only lent to a backend that would have opened it the same way.
    public func trusting(caFile: String?, identity: String? = nil, serverName: String? = nil) -> UpstreamEndpoint {
        var copy = self
        if self.scheme == .https {
            copy.poolKey = self.key + "|ca=" + (caFile ?? "system") + "|cert=" + (identity ?? "none") + "|sni=" + (serverName ?? "host")
        }
        return copy
    }

    public var description: String { self.key + self.basePath }

    public enum ParseProblem: Error, Equatable {
        case scheme, host, port, path
    }

    /// Parses `http(s)://host[:port][/base/path]`. Query strings, fragments and user info are refused.
    public static func parse(_ url: String) -> Result<UpstreamEndpoint, ParseProblem> {
        let scheme: Scheme
        var rest: Substring
        if url.hasPrefix("http://") {
            scheme = .http
            rest = url.dropFirst(7)
        } else if url.hasPrefix("https://") {
            scheme = .https
            rest = url.dropFirst(8)
        } else {
            return .failure(.scheme)
        }
        var basePath = ""
        if let slash = rest.firstIndex(of: "/") {
            basePath = String(rest[slash...])
            rest = rest[..<slash]
            while basePath.hasSuffix("/") { basePath.removeLast() }
            if basePath.contains("?") || basePath.contains("#") || basePath.contains("..") || basePath.contains("//") {
                return .failure(.path)
            }
        }
        if rest.contains("@") { return .failure(.host) }
        var host: Substring
        var port = scheme == .http ? 80 : 443
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return .failure(.host) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let tail = rest[rest.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":"), let p = Int(tail.dropFirst()), (1...65535).contains(p) else {
                    return .failure(.port)
                }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return .failure(.port) }
            port = p
        } else {
            host = rest
        }
        guard !host.isEmpty,
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":") })
        else { return .failure(.host) }
        return .success(UpstreamEndpoint(scheme: scheme, host: String(host), port: port, basePath: basePath))
    }
}
