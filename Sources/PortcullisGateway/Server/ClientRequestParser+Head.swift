import NIOCore
import NIOHTTP1
import PortcullisCore

/// The head of a request: its request line and header lines, checked strictly (see
/// ``ClientRequestParser``) and read for the body's framing.
extension ClientRequestParser {
    /// Parses a head (request line and header lines, without the final empty line). Returns
    /// the head and how its body is framed (nil: no body).
    static func parseHead(_ head: ByteBuffer, limits: Limits) throws(ParseError) -> (HTTPRequestHead, HTTP1BodyReader.Framing?) {
        var method = HTTPMethod.GET
        var uri = ""
        var minor = 1
        var headers = HTTPHeaders()
        var contentLength: Int?
        var sawTransferEncoding = false
        var sawChunked = false
        try head.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(ParseError) in
            let count = bytes.count
            // Request line: method SP request-target SP HTTP/1.x
            // Methods are upper case (RFC 9110 §9.1: case-sensitive, and every registered one is
            // upper case): `head` or `connect` must not pass for another method downstream.
            var i = 0
            while i < count && (bytes[i] &- UInt8(ascii: "A") < 26 || bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "_")) {
                i += 1
            }
            guard i > 0, i < count, bytes[i] == UInt8(ascii: " ") else { throw .badRequestLine }
            method = HTTPMethod(rawValue: String(decoding: bytes[0..<i], as: UTF8.self))
            i += 1
            let targetStart = i
            while i < count && bytes[i] > 0x20 && bytes[i] < 0x7F { i += 1 }
            guard i > targetStart, i < count, bytes[i] == UInt8(ascii: " ") else { throw .badRequestLine }
            uri = String(decoding: bytes[targetStart..<i], as: UTF8.self)
            i += 1
            guard i + 8 <= count, bytes[i] == UInt8(ascii: "H"), bytes[i + 1] == UInt8(ascii: "T"), bytes[i + 2] == UInt8(ascii: "T"),
                bytes[i + 3] == UInt8(ascii: "P"), bytes[i + 4] == UInt8(ascii: "/"), bytes[i + 5] == UInt8(ascii: "1"),
                bytes[i + 6] == UInt8(ascii: "."), bytes[i + 7] == UInt8(ascii: "0") || bytes[i + 7] == UInt8(ascii: "1")
            else { throw .badRequestLine }
            minor = Int(bytes[i + 7] - UInt8(ascii: "0"))
            i += 8
            guard i == count || bytes[i] == 0x0D else { throw .badRequestLine }
            guard i <= Self.maxRequestLineBytes, count - i <= limits.maxHeaderBytes else { throw .headTooLarge }
            do throws(HTTP1Syntax.Failure) {
                try HTTP1Syntax.scanFields(bytes, from: i, maxFields: limits.maxFields) {
                    (nameStart, nameEnd, valueStart, valueEnd) throws(HTTP1Syntax.Failure) in
                    let name = bytes[nameStart..<nameEnd]
                    let value = bytes[valueStart..<valueEnd]
                    switch name.count {
                    case 14 where HeaderRules.equalsIgnoringCase(bytes: name, "content-length"):
                        try HTTP1Syntax.mergeContentLength(value, into: &contentLength)
                    case 17 where HeaderRules.equalsIgnoringCase(bytes: name, "transfer-encoding"):
                        sawTransferEncoding = true
                        try HTTP1Syntax.forEachListElement(value) { (token) throws(HTTP1Syntax.Failure) in
                            // `chunked` once, and last: a coding after it leaves the body unframed.
                            guard !sawChunked else { throw .badFraming }
                            if HeaderRules.equalsIgnoringCase(bytes: token, "chunked") { sawChunked = true }
                        }
                    default:
                        break
                    }
                    headers.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
                }
            } catch {
                switch error {
                case .tooManyFields: throw .headTooLarge
                case .badFraming: throw .badFraming
                case .badHeader, .badChunk: throw .badHeader
                }
            }
        }
        let framing: HTTP1BodyReader.Framing?
        if sawTransferEncoding {
            // A length beside a coding is how requests are smuggled; a body not ended by
            // chunked has no end at all.
            guard sawChunked, contentLength == nil else { throw .badFraming }
            framing = .chunked
        } else if let contentLength, contentLength > 0 {
            framing = .length(contentLength)
        } else {
            framing = nil
        }
        let head = HTTPRequestHead(version: HTTPVersion(major: 1, minor: minor), method: method, uri: uri, headers: headers)
        return (head, framing)
    }
}
