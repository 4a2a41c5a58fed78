import NIOCore
import NIOSSL

/// Facts about one client connection shared by its handlers (all on the same event loop).
final class ConnectionState {
    let clientAddress: String?
    let isTLS: Bool
    /// Set once ALPN has chosen the protocol (always false on plain listeners).
    var isHTTP2: Bool
    /// The listener that accepted the connection (its authentication policy applies).
    let listenerName: String
    /// The TLS handler, for the verified client certificate.
    weak var tlsHandler: NIOSSLServerHandler?
    private var certificateChecked = false
    private var certificate: ClientCertificateIdentity?
    /// True between requests, while the next request head is awaited.
    var awaitingHead = true
    /// When the first byte of the next request head arrived (set by ``ConnectionGuard``).
    var headBytesAt: NIODeadline?
    /// When the connection became idle (accepted, or its last response ended).
    var idleSince: NIODeadline
    /// Whether the connection has not served a request yet (the header timeout applies from accept).
    var isFresh = true
    /// The HTTP/1 connection's first handler, which can write raw bytes past the HTTP codec.
    weak var rawWriter: ConnectionGuard?
    /// The HTTP/1 connection's request handler, whose timer enforces the header timeout.
    weak var proxy: ProxyHandler?
    /// The current request has been read whole (bytes arriving now belong to the next one).
    var currentRequestComplete = false
    /// Bytes of a next request arrived while the current one was still being answered.
    var bytesWhileBusy = false

    init(clientAddress: String?, isTLS: Bool, isHTTP2: Bool, listenerName: String) {
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        self.isHTTP2 = isHTTP2
        self.listenerName = listenerName
        self.idleSince = .now()
    }

    /// The client certificate NIOSSL verified during the handshake, read once per connection.
    func clientCertificate() -> ClientCertificateIdentity? {
        if !self.certificateChecked {
            self.certificateChecked = true
            self.certificate = self.tlsHandler?.peerCertificate.flatMap(ClientCertificateIdentity.init(certificate:))
        }
        return self.certificate
    }
}

/// Sits in front of the HTTP/1 decoder and notes when the bytes of a request head start
/// arriving, so a slow head (slowloris) gets the header timeout while a quiet keep-alive
/// connection gets the idle timeout. Passes every byte through untouched.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let state: ConnectionState
    private var context: ChannelHandlerContext?

    init(state: ConnectionState) {
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.state.rawWriter = self
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes a complete, already-encoded HTTP/1.1 response and closes the connection. Used for
    /// refusals that happen before a request head exists (unparseable request, slow head), when
    /// the HTTP codec and pipelining handler have no request to attach a response to.
    func writeRawAndClose(_ bytes: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(NIOAny(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.state.awaitingHead {
            if self.state.headBytesAt == nil {
                self.state.headBytesAt = .now()
                // The header timeout is shorter than the idle timeout the timer may be set to.
                self.state.proxy?.armTimer()
            }
        } else if self.state.currentRequestComplete {
            self.state.bytesWhileBusy = true
        }
        context.fireChannelRead(data)
    }
}
