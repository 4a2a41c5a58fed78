/// Header names the gateway treats specially, compared case-insensitively without allocating.
///
/// The pure name predicates live here, in the core, because the config compiler needs the
/// same facts as the data path (which names an operator's header edits may not touch); the
/// gateway adds the ones that need a request's headers in `HeaderRules+Gateway`.
public enum HeaderRules {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) plus the `Proxy-*` family: never forwarded in
    /// either direction.
    @inlinable
    public static func isHopByHop(_ name: String) -> Bool { isHopByHop(bytes: name.utf8) }

    /// ``isHopByHop(_:)`` over a name's bytes (an upstream response head is parsed as bytes).
    @inlinable @inline(__always)
    public static func isHopByHop<Name: Collection<UInt8>>(bytes name: Name) -> Bool {
        switch name.count {
        case 2: return equalsIgnoringCase(bytes: name, "te")
        case 7: return equalsIgnoringCase(bytes: name, "trailer") || equalsIgnoringCase(bytes: name, "upgrade")
        case 10: return equalsIgnoringCase(bytes: name, "connection") || equalsIgnoringCase(bytes: name, "keep-alive")
        case 17: return equalsIgnoringCase(bytes: name, "transfer-encoding")
        default: return hasPrefixIgnoringCase(bytes: name, "proxy-")
        }
    }

    @inlinable @inline(__always)
    public static func equalsIgnoringCase(_ name: String, _ lowercase: StaticString) -> Bool {
        equalsIgnoringCase(bytes: name.utf8, lowercase)
    }

    @inlinable @inline(__always)
    public static func hasPrefixIgnoringCase(_ name: String, _ lowercase: StaticString) -> Bool {
        hasPrefixIgnoringCase(bytes: name.utf8, lowercase)
    }

    /// ASCII case-insensitive equality with a lowercase literal (the one case fold, over bytes).
    @inlinable @inline(__always)
    public static func equalsIgnoringCase<Name: Collection<UInt8>>(bytes name: Name, _ lowercase: StaticString) -> Bool {
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

    @inlinable @inline(__always)
    public static func hasPrefixIgnoringCase<Name: Collection<UInt8>>(bytes name: Name, _ lowercase: StaticString) -> Bool {
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

    /// ``isListed(_:in:)`` over a name's bytes (`tokens` are lowercase).
    @inlinable
    public static func isListed<Name: Collection<UInt8>>(bytes name: Name, in tokens: [String]) -> Bool {
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

    /// Whether `name` is one of `tokens` (lowercase), ignoring case, without allocating.
    @inlinable
    public static func isListed(_ name: String, in tokens: [String]) -> Bool {
        guard !tokens.isEmpty else { return false }
        return isListed(bytes: name.utf8, in: tokens)
    }

    /// Request headers the gateway sets itself or that describe the hop into it (every
    /// `x-forwarded-*`, `Forwarded`, `X-Real-IP`), so the client's copy is dropped: a backend
    /// must not take a client's word for its address, host, port or path prefix.
    @inlinable
    public static func isReplacedUpstream(_ name: String) -> Bool {
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

    /// Names the gateway owns on the way to a backend: the trusted identity (`x-tenant-*`),
    /// its own markers (`x-portcullis-*`), hop-by-hop headers and the ones it sets itself.
    /// An operator's header edits may not set, add or remove them.
    @inlinable
    public static func isOwnedUpstream(_ name: String) -> Bool {
        hasPrefixIgnoringCase(name, "x-tenant-") || hasPrefixIgnoringCase(name, "x-portcullis-") || isHopByHop(name)
            || isReplacedUpstream(name)
    }

    /// Whether `name` is an HTTP field name (an RFC 9110 token).
    public static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    /// Whether `value` may go on the wire as a field value: visible ASCII, spaces and tabs
    /// inside, nothing that could end a line (CR, LF, NUL) or hide in one.
    public static func isSafeValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) }
            && value.first != " " && value.last != " "
    }
}
