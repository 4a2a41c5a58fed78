/// A request target after strict normalisation: the path the gateway matches routes on and
/// forwards upstream, and the raw query.
///
/// Rules (refuse rather than guess): only origin-form (`/…`); no absolute-form, authority-form
/// or `*`; percent-escapes of unreserved characters are decoded (so `%76%31` is `v1` and
/// `%2e%2e` is `..`); after decoding, `.` and `..` segments, empty segments (`//`), backslashes,
/// `;` (some servers read `..;` as `..`), `%2F`, `%5C`, `%00`, control characters, spaces, `#`
/// and non-ASCII are refused. A path that
/// survives is matched exactly, so nothing can climb into another route.
public struct RequestTarget: Sendable, Equatable {
    public var path: String
    public var query: Substring?

    /// `path` plus `?query` when there is one: what is sent upstream.
    public var pathAndQuery: String {
        if let query { return self.path + "?" + query }
        return self.path
    }

    public enum Problem: Error, Equatable, Sendable {
        case notOriginForm
        case invalidCharacter
        case invalidEscape
        case dotSegment
        case emptySegment
        case encodedSeparator
        case tooLong
    }

    public static let maximumLength = 8192

    /// The target logged for a request whose head could not be read.
    public static let unreadable = RequestTarget(path: "-", query: nil)

    public static func parse(_ uri: String) -> Result<RequestTarget, Problem> {
        let utf8 = uri.utf8
        guard utf8.count <= maximumLength else { return .failure(.tooLong) }
        guard utf8.first == UInt8(ascii: "/") else { return .failure(.notOriginForm) }
        var pathEnd = utf8.endIndex
        var query: Substring?
        if let q = utf8.firstIndex(of: UInt8(ascii: "?")) {
            pathEnd = q
            query = uri[uri.utf8.index(after: q)...]
            for byte in query!.utf8 where byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "#") {
                return .failure(.invalidCharacter)
            }
        }
        let rawPath = utf8[utf8.startIndex..<pathEnd]
        var needsDecoding = false
        for byte in rawPath {
            if byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "#")
                || byte == UInt8(ascii: ";")
            {
                return .failure(.invalidCharacter)
            }
            if byte == UInt8(ascii: "%") { needsDecoding = true }
        }
        var path: String
        if needsDecoding {
            switch decodeUnreserved(Array(rawPath)) {
            case .success(let decoded): path = decoded
            case .failure(let problem): return .failure(problem)
            }
        } else {
            path = String(Substring(rawPath))
        }
        // Segment checks on the decoded path.
        var segmentLength = 0
        var dots = 0
        var first = true
        for byte in path.utf8 {
            if first {
                first = false
                continue  // the leading '/'
            }
            if byte == UInt8(ascii: "/") {
                if segmentLength == 0 { return .failure(.emptySegment) }
                if dots == segmentLength && dots <= 2 { return .failure(.dotSegment) }
                segmentLength = 0
                dots = 0
                continue
            }
            segmentLength += 1
            if byte == UInt8(ascii: ".") { dots += 1 }
        }
        if segmentLength > 0 && dots == segmentLength && dots <= 2 { return .failure(.dotSegment) }
        return .success(RequestTarget(path: path, query: query))
    }

    /// Decodes `%XX` for unreserved characters; an escape of anything else that could change how
    /// the path splits (`/`, `\`, NUL and other controls) is refused; other escapes stay encoded.
    private static func decodeUnreserved(_ raw: [UInt8]) -> Result<String, Problem> {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 2 < raw.count, let hi = JSONString.hexValue(raw[i + 1]), let lo = JSONString.hexValue(raw[i + 2])
            else { return .failure(.invalidEscape) }
            let value = hi << 4 | lo
            switch value {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(value)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: ";"):
                return .failure(.encodedSeparator)
            case 0x00...0x1F, 0x7F:
                return .failure(.invalidCharacter)
            default:
                // Keep the escape, normalised to upper case hex.
                out.append(UInt8(ascii: "%"))
                out.append(upperHex(raw[i + 1]))
                out.append(upperHex(raw[i + 2]))
            }
            i += 3
        }
        return .success(String(decoding: out, as: UTF8.self))
    }

    private static func upperHex(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) ? byte - 32 : byte
    }
}
