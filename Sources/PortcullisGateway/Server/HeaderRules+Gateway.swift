import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The gateway's header rules that need a request's headers or answer for the data path only
/// (the pure name predicates are in the core's ``HeaderRules``).
extension HeaderRules {
    /// Names listed in the request's `Connection` header(s): hop-by-hop by declaration.
    static func connectionTokens(_ headers: HTTPHeaders) -> [String] {
        var tokens: [String] = []
        for (name, value) in headers where equalsIgnoringCase(name, "connection") {
            for token in value.split(separator: ",") {
                let trimmed = token.trimmingCharacters(in: " \t").lowercased()
                if !trimmed.isEmpty && trimmed != "close" && trimmed != "keep-alive" {
                    tokens.append(trimmed)
                }
            }
        }
        return tokens
    }

    /// A header name's bytes as a lowercase `String` (HTTP/2 requires lowercase names; an
    /// HTTP/1 upstream may send `Content-Type`).
    static func lowercasedName(bytes name: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: name.count) { out in
            for (i, byte) in name.enumerated() { out[i] = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte }
            return name.count
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension HeaderRules {
    /// Response headers the gateway sets itself, so the upstream's copy is dropped.
    /// Every `x-ratelimit-*` is one: a backend's describe the gateway's account with the
    /// provider, and the gateway sends the tenant's own (``RateLimitHeaders``).
    static func isSetOnResponse<Name: Collection<UInt8>>(bytes name: Name) -> Bool {
        switch name.count {
        case 12: return equalsIgnoringCase(bytes: name, "x-request-id")
        case 24: return equalsIgnoringCase(bytes: name, "x-portcullis-overhead-ms") || Self.isRateLimitHeader(name)
        case 13...: return Self.isRateLimitHeader(name)
        default: return false
        }
    }

    private static func isRateLimitHeader<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        equalsIgnoringCase(bytes: name.prefix(12), "x-ratelimit-")
    }

    /// A client header no backend may see, on every path toward one (the gateway's own
    /// forward, ``UpstreamRequestHead``, and an ext_authz allow, ``CheckHeaders``): a name with
    /// `_` (CGI-style backends fold `X_Tenant_Id` into `X-Tenant-Id`), the `x-tenant-*` and
    /// `x-portcullis-*` families only the gateway writes, the client's own credential unless
    /// the route forwards it, and the configured reserved names.
    @inline(__always)
    static func isWithheldFromBackend(
        _ name: String, forwardCredentials: Bool, authentication: AuthenticationSettings, checkReserved: Bool
    ) -> Bool {
        name.utf8.contains(UInt8(ascii: "_")) || hasPrefixIgnoringCase(name, "x-tenant-")
            || hasPrefixIgnoringCase(name, "x-portcullis-") || (!forwardCredentials && isClientCredential(name))
            || (checkReserved && authentication.isReserved(name.lowercased()))
    }

    /// The client's own credential headers (forwarded only when a route opts in).
    static func isClientCredential(_ name: String) -> Bool {
        switch name.utf8.count {
        case 9: return equalsIgnoringCase(name, "x-api-key")
        case 13: return equalsIgnoringCase(name, "authorization")
        default: return false
        }
    }
}
