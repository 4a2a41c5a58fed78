import NIOCore
import PortcullisCore

/// An upstream response head as parsed from its bytes, kept as bytes: the status, what the
/// gateway needs to know (framing, keep-alive, the kind of body, whether a header must be
/// dropped), and each header's position in `bytes`. Built by ``UpstreamResponseParser``.
struct UpstreamResponseHead {
    /// The head as received: the status line and the header lines, without the final empty line.
    private(set) var bytes: ByteBuffer
    /// Each header's name and (trimmed) value, as offsets into `bytes`, in order.
    let fields: [Field]
    let status: Int
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    let minorVersion: Int
    /// The connection can carry another request once this response ends.
    let keepAlive: Bool
    let framing: Framing
    let body: BodyKind
    /// A `Content-Length` the client gets (so the body travels as it is).
    let hasContentLength: Bool
    /// A header the client must not see is present: hop-by-hop, named in `Connection`, or one
    /// the gateway sets itself. When false the fields are copied as they are.
    let needsRewrite: Bool
    /// The upstream's `Content-Length` is not forwarded (a 204's).
    let dropsContentLength: Bool
    /// Names listed in `Connection` (lowercased, without `close`, `keep-alive` and
    /// `content-length`, which is framing and stays).
    let connectionTokens: [String]

    struct Field {
        let nameStart: Int32
        let nameEnd: Int32
        let valueStart: Int32
        let valueEnd: Int32
    }

    enum Framing: Equatable {
        /// No body: HEAD, 204, 304.
        case none
        case length(Int)
        case chunked
        /// The body ends when the connection does.
        case untilClose
    }

    enum BodyKind { case eventStream, json, other }

    /// Masks every occurrence of `secret` in the head (see ``CredentialScrubber``): lengths stay,
    /// so the field offsets do too.
    mutating func mask(_ forms: [[UInt8]]) {
        var bytes = Array(self.bytes.readableBytesView)
        for form in forms { CredentialScrubber.mask(form, in: &bytes) }
        self.bytes = ByteBuffer(bytes: bytes)
    }

    /// Calls `body` with each header's name and value bytes (valid only inside the call).
    func forEachField(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        self.bytes.withUnsafeReadableBytes { all in
            for field in self.fields {
                body(
                    UnsafeRawBufferPointer(rebasing: all[Int(field.nameStart)..<Int(field.nameEnd)]),
                    UnsafeRawBufferPointer(rebasing: all[Int(field.valueStart)..<Int(field.valueEnd)]))
            }
        }
    }

    /// Whether the upstream's header `name` is kept from the client: hop-by-hop, named in
    /// `Connection`, set by the gateway itself, or a 204's length. The one rule for both client
    /// protocols (only consulted when ``needsRewrite``).
    func staysBehind(_ name: UnsafeRawBufferPointer) -> Bool {
        HeaderRules.isHopByHop(bytes: name) || HeaderRules.isSetOnResponse(bytes: name)
            || HeaderRules.isListed(bytes: name, in: self.connectionTokens)
            || (self.dropsContentLength && HeaderRules.equalsIgnoringCase(bytes: name, "content-length"))
    }

    /// The value of the first header named `name` (lowercase), for tests and diagnostics.
    func value(of name: String) -> String? {
        var found: String?
        self.forEachField { fieldName, value in
            if found == nil && String(decoding: fieldName, as: UTF8.self).lowercased() == name {
                found = String(decoding: value, as: UTF8.self)
            }
        }
        return found
    }
}
