import NIOCore
import PortcullisCore

/// Renders a duration as milliseconds with three decimals without Foundation formatting.
enum Millis {
    static func write(nanoseconds: Int64, into buffer: inout ByteBuffer) {
        let micros = max(0, nanoseconds / 1000)
        buffer.writeDecimal(Int(micros / 1000))
        let fraction = Int(micros % 1000)
        buffer.writeInteger(UInt8(ascii: "."))
        if fraction < 100 { buffer.writeInteger(UInt8(ascii: "0")) }
        if fraction < 10 { buffer.writeInteger(UInt8(ascii: "0")) }
        buffer.writeDecimal(fraction)
    }

    static func string(nanoseconds: Int64) -> String {
        var buffer = ByteBuffer()
        Self.write(nanoseconds: nanoseconds, into: &buffer)
        return String(buffer: buffer)
    }
}
