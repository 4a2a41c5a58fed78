import NIOConcurrencyHelpers
import NIOSSL

/// TLS client contexts for https upstreams, built once per trust configuration and shared by
/// every loop (`NIOSSLContext` is thread-safe). Looked up when a connection is opened, never
/// per request.
public final class UpstreamTLS: Sendable {
    private let contexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])

    public init() {}

    /// Forgets every context, so CA files are read again for new connections (on reload).
    public func reload() {
        self.contexts.withLockedValue { $0.removeAll() }
    }

    /// The context trusting the system roots, or only the PEM bundle at `caFile` when given,
    /// presenting `identity`'s certificate chain and key when given (mTLS toward the backend),
    /// offering `h2` alone in ALPN when `http2` (else `http/1.1`).
    public func context(caFile: String?, identity: (certificate: String, key: String)? = nil, http2: Bool = false) throws -> NIOSSLContext {
        let key = (http2 ? "h2\u{0}" : "") + (caFile ?? "") + "\u{0}" + (identity.map { $0.certificate + "\u{0}" + $0.key } ?? "")
        if let existing = self.contexts.withLockedValue({ $0[key] }) { return existing }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = http2 ? ["h2"] : ["http/1.1"]
        if let caFile {
            configuration.trustRoots = .file(caFile)
        }
        if let identity {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(identity.certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: identity.key, format: .pem))
        }
        let context = try NIOSSLContext(configuration: configuration)
        self.contexts.withLockedValue { $0[key] = context }
        return context
    }
}
