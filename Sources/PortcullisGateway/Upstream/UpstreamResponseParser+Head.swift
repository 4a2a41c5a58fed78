import NIOCore
import PortcullisCore

/// The head of a response: its status line and header lines, checked strictly (see
/// ``UpstreamResponseParser``) and read for framing, keep-alive and the body's kind.
extension UpstreamResponseParser {
    /// At most this many header lines in a response head.
    static let maxFields = 256

    /// Parses a head (status line and header lines, without the final empty line). Returns nil
    /// for an informational (1xx) response, which the real one follows.
    static func parseHead(_ head: ByteBuffer, headRequest: Bool) throws(ParseError) -> UpstreamResponseHead? {
        var fields: [UpstreamResponseHead.Field] = []
        var status = 0
        var minor = 0
        var contentLength: Int?
        var chunked = false
        var sawTransferEncoding = false
        var close = false
        var keepAliveToken = false
        var needsRewrite = false
        var sawContentType = false
        var body = UpstreamResponseHead.BodyKind.other
        var tokens: [String] = []
        try head.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(ParseError) in
            let count = bytes.count
            // Status line: HTTP/1.x SP 3DIGIT [SP reason]
            guard count >= 12, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[2] == UInt8(ascii: "T"),
                bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
                bytes[6] == UInt8(ascii: "."), bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"),
                bytes[8] == UInt8(ascii: " ")
            else { throw .badStatusLine }
            minor = Int(bytes[7] - UInt8(ascii: "0"))
            for i in 9..<12 {
                let digit = bytes[i] &- UInt8(ascii: "0")
                guard digit <= 9 else { throw .badStatusLine }
                status = status * 10 + Int(digit)
            }
            guard status >= 100 else { throw .badStatusLine }
            var i = 12
            if i < count && bytes[i] != 0x0D {
                guard bytes[i] == UInt8(ascii: " ") else { throw .badStatusLine }
                while i < count && bytes[i] != 0x0D {
                    let byte = bytes[i]
                    guard byte == 0x09 || (byte >= 0x20 && byte != 0x7F) else { throw .badStatusLine }
                    i += 1
                }
            }
            // Header lines, each after a CRLF; the last one runs to the end of the head.
            do throws(HTTP1Syntax.Failure) {
                try HTTP1Syntax.scanFields(bytes, from: i, maxFields: Self.maxFields) {
                    (nameStart, nameEnd, valueStart, valueEnd) throws(HTTP1Syntax.Failure) in
                    fields.append(.init(nameStart: Int32(nameStart), nameEnd: Int32(nameEnd), valueStart: Int32(valueStart), valueEnd: Int32(valueEnd)))
                    let name = bytes[nameStart..<nameEnd]
                    let value = bytes[valueStart..<valueEnd]
                    if HeaderRules.isHopByHop(bytes: name) || HeaderRules.isSetOnResponse(bytes: name) { needsRewrite = true }
                    switch name.count {
                    case 14 where HeaderRules.equalsIgnoringCase(bytes: name, "content-length"):
                        try HTTP1Syntax.mergeContentLength(value, into: &contentLength)
                    case 17 where HeaderRules.equalsIgnoringCase(bytes: name, "transfer-encoding"):
                        // Only plain chunked: another coding would reach the client un-decoded and
                        // unlabelled once the gateway removes the chunking.
                        guard !sawTransferEncoding, HeaderRules.equalsIgnoringCase(bytes: value, "chunked") else { throw .badFraming }
                        sawTransferEncoding = true
                        chunked = true
                    case 10 where HeaderRules.equalsIgnoringCase(bytes: name, "connection"):
                        try HTTP1Syntax.forEachListElement(value) { token in
                            if HeaderRules.equalsIgnoringCase(bytes: token, "close") {
                                close = true
                            } else if HeaderRules.equalsIgnoringCase(bytes: token, "keep-alive") {
                                keepAliveToken = true
                            } else if !HeaderRules.equalsIgnoringCase(bytes: token, "content-length") {
                                // (`content-length` stays: the body's framing is not the backend's
                                // to remove; dropping it would leave a keep-alive client without an end.)
                                tokens.append(String(decoding: token, as: UTF8.self).lowercased())
                            }
                        }
                    case 12 where !sawContentType && HeaderRules.equalsIgnoringCase(bytes: name, "content-type"):
                        sawContentType = true
                        if HeaderRules.hasPrefixIgnoringCase(bytes: value, "text/event-stream") {
                            body = .eventStream
                        } else if HeaderRules.hasPrefixIgnoringCase(bytes: value, "application/json") {
                            body = .json
                        }
                    default:
                        break
                    }
                }
            } catch {
                switch error {
                case .tooManyFields: throw .headTooLarge
                case .badFraming: throw .badFraming
                case .badHeader, .badChunk: throw .badHeader
                }
            }
        }
        if status < 200 {
            // 101 would switch protocols, which the gateway never asks for.
            guard status != 101 else { throw .badStatusLine }
            return nil
        }
        guard !(chunked && contentLength != nil) else { throw .badFraming }
        if !tokens.isEmpty { needsRewrite = true }
        // A 204 carries no length (RFC 9110 §8.6); a copy would desynchronise the client, and an
        // HTTP/2 client resets the stream over it.
        let dropsContentLength = status == 204 && contentLength != nil
        if dropsContentLength { needsRewrite = true }
        let framing: UpstreamResponseHead.Framing
        if headRequest || status == 204 || status == 304 {
            framing = .none
        } else if chunked {
            framing = .chunked
        } else if let contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        let keepAlive = framing != .untilClose && !close && (minor == 1 || keepAliveToken)
        return UpstreamResponseHead(
            bytes: head, fields: fields, status: status, minorVersion: minor, keepAlive: keepAlive, framing: framing,
            body: body, hasContentLength: contentLength != nil && !dropsContentLength, needsRewrite: needsRewrite,
            dropsContentLength: dropsContentLength, connectionTokens: tokens)
    }
}
