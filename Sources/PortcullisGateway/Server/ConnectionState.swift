import NIOCore
import NIOSSL

/// Facts about one client connection shared by its handlers (all on the same event loop): who
/// is at the other end and which listener accepted it. Needs no channel, so a stage test
/// builds one directly.
final class ConnectionState {
    let clientAddress: String?
    let isTLS: Bool
    /// Set once ALPN has chosen the protocol (always false on plain listeners).
    var isHTTP2: Bool
    /// The listener that accepted the connection (its authentication policy applies).
    let listenerName: String
    /// Proxied, or an ext_authz check (``CheckRun``).
    let mode: ExchangeMode
    /// The TLS handler, for the verified client certificate.
    weak var tlsHandler: NIOSSLServerHandler?
    private var certificateChecked = false
    private var certificate: ClientCertificateIdentity?
    /// The HTTP/1 connection's request handler, told when raw bytes arrive.
    weak var proxy: ProxyHandler?

    init(clientAddress: String?, isTLS: Bool, isHTTP2: Bool, listenerName: String, mode: ExchangeMode = .proxy) {
        self.mode = mode
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        self.isHTTP2 = isHTTP2
        self.listenerName = listenerName
    }

    /// The client certificate NIOSSL verified during the handshake, read once per connection.
    func clientCertificate() -> ClientCertificateIdentity? {
        if !self.certificateChecked {
            self.certificateChecked = true
            self.certificate = self.tlsHandler?.peerCertificate.flatMap(ClientCertificateIdentity.init(certificate:))
        }
        return self.certificate
    }

    /// A certificate identity set directly (stage tests).
    func setClientCertificate(_ identity: ClientCertificateIdentity?) {
        self.certificateChecked = true
        self.certificate = identity
    }
}
