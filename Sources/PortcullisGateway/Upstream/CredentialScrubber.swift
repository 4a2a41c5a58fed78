import NIOCore

/// Masks a backend's own credential wherever the backend echoes it back in an error answer
/// (OpenAI's 401 says "Incorrect API key provided: sk-…"), so the gateway's secret never
/// reaches a client. Each byte of an occurrence becomes `*`: the length stays, so a body
/// framed by `Content-Length` stays whole.
///
/// A body arrives in parts, and an occurrence may straddle two: the longest tail of a part
/// that could begin one is held back until the next part (or the end) decides. Only error
/// answers (status 400 and above) from a backend with a credential go through it.
struct CredentialScrubber {
    /// The forms the secret may take (``BackendCredential/forms``).
    private let forms: [[UInt8]]
    private var held: [UInt8] = []

    init(forms: [[UInt8]]) {
        precondition(!forms.isEmpty && forms.allSatisfy { !$0.isEmpty })
        self.forms = forms
    }

    init(secret: [UInt8]) {
        self.init(forms: [secret])
    }

    /// `buffer` with every whole occurrence masked, minus a tail that may begin one (empty
    /// when all of it is held back).
    mutating func scrub(_ buffer: ByteBuffer) -> ByteBuffer {
        var bytes = self.held
        bytes.append(contentsOf: buffer.readableBytesView)
        for form in self.forms { Self.mask(form, in: &bytes) }
        let keep = self.forms.map { Self.openPrefix(of: $0, endingAt: bytes) }.max() ?? 0
        self.held = Array(bytes.suffix(keep))
        return ByteBuffer(bytes: bytes.dropLast(keep))
    }

    /// What was held back (it began the secret but the body ended first), or nil.
    mutating func finish() -> ByteBuffer? {
        defer { self.held = [] }
        return self.held.isEmpty ? nil : ByteBuffer(bytes: self.held)
    }

    /// Masks every occurrence of `secret` in `bytes`.
    static func mask(_ secret: [UInt8], in bytes: inout [UInt8]) {
        let count = secret.count
        guard bytes.count >= count, let first = secret.first else { return }
        var i = 0
        while i <= bytes.count - count {
            if bytes[i] == first && bytes[i..<(i + count)].elementsEqual(secret) {
                for j in i..<(i + count) { bytes[j] = UInt8(ascii: "*") }
                i += count
            } else {
                i += 1
            }
        }
    }

    /// The length of the longest tail of `bytes` that is a proper prefix of `secret`.
    static func openPrefix(of secret: [UInt8], endingAt bytes: [UInt8]) -> Int {
        var length = min(secret.count - 1, bytes.count)
        while length > 0 {
            if bytes.suffix(length).elementsEqual(secret.prefix(length)) { return length }
            length -= 1
        }
        return 0
    }
}
