import NIOCore

/// JSON string escaping and unescaping over raw bytes.
///
/// Written by hand because the request path never hands a whole body to Foundation: the scanner
/// finds the few strings the gateway acts on and only those are decoded here.
public enum JSONString {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `value` as a quoted JSON string. Besides what JSON requires, DEL, the C1 controls
    /// (U+0080–U+009F) and U+2028/U+2029 are escaped too: some log viewers and JavaScript
    /// consumers take them for line breaks, and a log line must stay one line.
    public static func writeQuoted(_ value: String, into buffer: inout ByteBuffer) {
        var value = value
        value.withUTF8 { utf8 in
            buffer.writeInteger(UInt8(ascii: "\""))
            let count = utf8.count
            var plainStart = 0
            var index = 0
            while index < count {
                let byte = utf8[index]
                var length = 1
                var escapeCode: UInt16?
                if byte < 0x20 || byte == 0x7F {
                    escapeCode = UInt16(byte)
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    escapeCode = UInt16(byte)
                } else if byte == 0xC2, index + 1 < count, utf8[index + 1] <= 0x9F {
                    escapeCode = UInt16(utf8[index + 1])  // U+0080–U+009F
                    length = 2
                } else if byte == 0xE2, index + 2 < count, utf8[index + 1] == 0x80, utf8[index + 2] == 0xA8 || utf8[index + 2] == 0xA9 {
                    escapeCode = utf8[index + 2] == 0xA8 ? 0x2028 : 0x2029
                    length = 3
                }
                guard let code = escapeCode else {
                    index += 1
                    continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[plainStart..<index]))
                switch code {
                case UInt16(UInt8(ascii: "\"")): buffer.writeStaticString("\\\"")
                case UInt16(UInt8(ascii: "\\")): buffer.writeStaticString("\\\\")
                case UInt16(UInt8(ascii: "\n")): buffer.writeStaticString("\\n")
                case UInt16(UInt8(ascii: "\r")): buffer.writeStaticString("\\r")
                case UInt16(UInt8(ascii: "\t")): buffer.writeStaticString("\\t")
                default:
                    buffer.writeStaticString("\\u")
                    buffer.writeInteger(hex[Int(code >> 12)])
                    buffer.writeInteger(hex[Int((code >> 8) & 0x0F)])
                    buffer.writeInteger(hex[Int((code >> 4) & 0x0F)])
                    buffer.writeInteger(hex[Int(code & 0x0F)])
                }
                index += length
                plainStart = index
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[plainStart..<count]))
            buffer.writeInteger(UInt8(ascii: "\""))
        }
    }

    /// Returns `value` as a quoted JSON string.
    public static func quoted(_ value: String) -> String {
        var buffer = ByteBuffer()
        writeQuoted(value, into: &buffer)
        return String(buffer: buffer)
    }

    /// Decodes the contents of a JSON string token (the bytes between the quotes, already
    /// validated by ``JSONScanner``). Returns nil for an escape that encodes an unpaired surrogate.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> String? {
        if !bytes.contains(UInt8(ascii: "\\")) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < bytes.count else { return nil }
            let esc = bytes[i + 1]
            i += 2
            switch esc {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard let high = hex4(bytes, at: i) else { return nil }
                i += 4
                var scalarValue = UInt32(high)
                if (0xD800...0xDBFF).contains(high) {
                    guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                        let low = hex4(bytes, at: i + 2), (0xDC00...0xDFFF).contains(low)
                    else { return nil }
                    i += 6
                    scalarValue = 0x10000 + ((UInt32(high) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(high) {
                    return nil
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { return nil }
                out.append(contentsOf: String(Character(scalar)).utf8)
            default:
                return nil
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex4(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt16? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt16 = 0
        for k in 0..<4 {
            guard let digit = hexValue(bytes[index + k]) else { return nil }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    @inline(__always)
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
