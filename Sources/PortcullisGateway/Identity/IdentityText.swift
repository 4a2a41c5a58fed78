import Foundation
import PortcullisConfig
import PortcullisCore

/// Identity values travel in headers: printable ASCII only, 1…256 bytes.
enum IdentityText {
    static func isSafe(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 256 else { return false }
        return utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}
