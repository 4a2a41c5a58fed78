/// The backend's own credential, injected into every request sent to it (`credential:` on a
/// backend). The secret is read from an environment variable or a file when the config is
/// loaded, so a reload re-reads it; it is never shown by `/config`, `check` or a log.
///
/// ```yaml
/// credential: { header: authorization, prefix: "Bearer ", env: OPENAI_API_KEY }
/// credential: { header: api-key, file: /run/secrets/azure-openai }
/// ```
public struct BackendCredentialSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case environment(String)
        case file(String)

        /// Where the secret came from, safe to show (`env:NAME`, `file:PATH`).
        public var description: String {
            switch self {
            case .environment(let name): "env:\(name)"
            case .file(let path): "file:\(path)"
            }
        }
    }

    /// Lowercased header name (default `authorization`).
    public var header = "authorization"
    /// Text before the secret in the header's value (`Bearer `; default none).
    public var prefix = ""
    public var source: Source
    /// The secret as read (a file's trailing line break removed).
    public var secret: String
    public var location: SourceLocation

    public init(source: Source, secret: String, location: SourceLocation) {
        self.source = source
        self.secret = secret
        self.location = location
    }

    /// Shortest secret accepted: credentials are scrubbed from error bodies passed back to
    /// clients, which only makes sense for a value that cannot occur there by chance.
    public static let minimumSecretLength = 8

    /// The bytes a secret may hold: those of API keys and tokens (base64, base64url, hex and
    /// the like). No quote or backslash, so the only way a JSON answer can spell the secret
    /// differently is `\/` (see ``BackendCredential/forms``).
    public static func isSecretByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "-._~+/=:".utf8.contains(byte)
        }
    }
}
