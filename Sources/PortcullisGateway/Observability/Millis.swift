import NIOCore
import PortcullisCore

/// Renders a duration as milliseconds with three decimals without Foundation formatting.
enum Millis {
    static func string(nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds / 1000)
        let whole = micros / 1000
        let fraction = micros % 1000
        let pad = fraction < 10 ? "00" : (fraction < 100 ? "0" : "")
        return "\(whole).\(pad)\(fraction)"
    }
}
