import NIOHTTP1

/// Header names the gateway treats specially, compared case-insensitively without allocating.
enum HeaderRules {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) plus the `Proxy-*` family: never forwarded in
    /// either direction.
    static func isHopByHop(_ name: String) -> Bool { isHopByHop(bytes: name.utf8) }

    /// ``isHopByHop(_:)`` over a name's bytes (an upstream response head is parsed as bytes).
    @inline(__always)
    static func isHopByHop<Name: Collection<UInt8>>(bytes name: Name) -> Bool {
        switch name.count {
        case 2: return equalsIgnoringCase(bytes: name, "te")
        case 7: return equalsIgnoringCase(bytes: name, "trailer") || equalsIgnoringCase(bytes: name, "upgrade")
        case 10: return equalsIgnoringCase(bytes: name, "connection") || equalsIgnoringCase(bytes: name, "keep-alive")
        case 17: return equalsIgnoringCase(bytes: name, "transfer-encoding")
        default: return hasPrefixIgnoringCase(bytes: name, "proxy-")
        }
    }

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

    @inline(__always)
    static func equalsIgnoringCase(_ name: String, _ lowercase: StaticString) -> Bool {
        equalsIgnoringCase(bytes: name.utf8, lowercase)
    }

    @inline(__always)
    static func hasPrefixIgnoringCase(_ name: String, _ lowercase: StaticString) -> Bool {
        hasPrefixIgnoringCase(bytes: name.utf8, lowercase)
    }

    /// ASCII case-insensitive equality with a lowercase literal (the one case fold, over bytes).
    @inline(__always)
    static func equalsIgnoringCase<Name: Collection<UInt8>>(bytes name: Name, _ lowercase: StaticString) -> Bool {
        let count = lowercase.utf8CodeUnitCount
        guard name.count == count else { return false }
        return lowercase.withUTF8Buffer { expected in
            var i = 0
            for byte in name {
                let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
                if folded != expected[i] { return false }
                i += 1
            }
            return true
        }
    }

    @inline(__always)
    static func hasPrefixIgnoringCase<Name: Collection<UInt8>>(bytes name: Name, _ lowercase: StaticString) -> Bool {
        let count = lowercase.utf8CodeUnitCount
        guard name.count >= count else { return false }
        return lowercase.withUTF8Buffer { expected in
            var i = 0
            for byte in name {
                if i == count { return true }
                let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
                if folded != expected[i] { return false }
                i += 1
            }
            return i == count
        }
    }

    /// A header name's bytes as a lowercase `String` (HTTP/2 requires lowercase names; an
    /// HTTP/1 upstream may send `Content-Type`).
    static func lowercasedName(bytes name: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: name.count) { out in
            for (i, byte) in name.enumerated() { out[i] = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte }
            return name.count
        }
    }

    /// ``isListed(_:in:)`` over a name's bytes (`tokens` are lowercase).
    static func isListed<Name: Collection<UInt8>>(bytes name: Name, in tokens: [String]) -> Bool {
        for token in tokens where token.utf8.count == name.count {
            var equal = true
            for (byte, expected) in zip(name, token.utf8) {
                let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
                if folded != expected {
                    equal = false
                    break
                }
            }
            if equal { return true }
        }
        return false
    }

    static func isListed(_ name: String, in tokens: [String]) -> Bool {
        guard !tokens.isEmpty else { return false }
        let lower = name.lowercased()
        return tokens.contains(lower)
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

    /// The client's own credential headers (forwarded only when a route opts in).
    static func isClientCredential(_ name: String) -> Bool {
        switch name.utf8.count {
        case 9: return equalsIgnoringCase(name, "x-api-key")
        case 13: return equalsIgnoringCase(name, "authorization")
        default: return false
        }
    }

    /// Request headers the gateway sets itself or that describe the hop into it (every
    /// `x-forwarded-*`, `Forwarded`, `X-Real-IP`), so the client's copy is dropped: a backend
    /// must not take a client's word for its address, host, port or path prefix.
    static func isReplacedUpstream(_ name: String) -> Bool {
        let count = name.utf8.count
        if count >= 12 && hasPrefixIgnoringCase(name, "x-forwarded-") { return true }
        switch count {
        case 4: return equalsIgnoringCase(name, "host")
        case 6: return equalsIgnoringCase(name, "expect")
        case 9: return equalsIgnoringCase(name, "x-real-ip") || equalsIgnoringCase(name, "forwarded")
        case 12: return equalsIgnoringCase(name, "x-request-id")
        case 14: return equalsIgnoringCase(name, "content-length")
        default: return false
        }
    }
}
