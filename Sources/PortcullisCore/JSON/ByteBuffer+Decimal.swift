import NIOCore

extension ByteBuffer {
    /// Writes `value` in decimal without creating a `String`.
    @inlinable
    public mutating func writeDecimal(_ value: Int) {
        if value < 0 {
            self.writeInteger(UInt8(ascii: "-"))
            self.writeDecimal(UInt64(value.magnitude))
        } else {
            self.writeDecimal(UInt64(value))
        }
    }

    @inlinable
    public mutating func writeDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var v = value
            var i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            self.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[i...]))
        }
    }

    /// Writes a duration as milliseconds with three decimals (`12.345`).
    @inlinable
    public mutating func writeMillis(nanoseconds: Int64) {
        let micros = UInt64(max(0, nanoseconds / 1000))
        self.writeDecimal(micros / 1000)
        self.writeInteger(UInt8(ascii: "."))
        let fraction = micros % 1000
        if fraction < 100 { self.writeInteger(UInt8(ascii: "0")) }
        if fraction < 10 { self.writeInteger(UInt8(ascii: "0")) }
        self.writeDecimal(fraction)
    }
}
