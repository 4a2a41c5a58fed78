import Foundation

/// A backend's own credential, compiled: the header it travels in and the secret, kept as
/// bytes too so error answers passed back from the backend can be scrubbed of it.
public struct BackendCredential: Sendable {
    /// Lowercased header name.
    public let header: String
    /// The header's whole value (prefix and secret).
    public let value: String
    /// The secret alone: what is masked wherever a backend echoes it back.
    public let secret: [UInt8]
    /// Every form the secret may take in an answer: as it is and, when it holds a `/`, as a
    /// JSON string escapes it (`\/`). Secrets hold no `"` or `\` (refused when read), so
    /// there is no other escape.
    public let forms: [[UInt8]]

    init(_ spec: BackendCredentialSpec) {
        self.header = spec.header
        self.value = spec.prefix + spec.secret
        self.secret = Array(spec.secret.utf8)
        var forms = [self.secret]
        if spec.secret.contains("/") { forms.append(Array(spec.secret.replacingOccurrences(of: "/", with: "\\/").utf8)) }
        self.forms = forms
    }
}
