/// A URL as the gateway may show it (`/config`) or log it: without user information
/// (`user:password@`), query string or fragment, any of which may carry a credential (a JWKS
/// URI with `?token=…`).
enum RedactedURL {
    static func of(_ url: String) -> String {
        var text = Substring(url.prefix { $0 != "?" && $0 != "#" })
        if let scheme = text.range(of: "://") {
            let authorityEnd = text[scheme.upperBound...].firstIndex(of: "/") ?? text.endIndex
            if let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@") {
                text = text[..<scheme.upperBound] + text[text.index(after: at)...]
            }
        }
        return String(text)
    }
}
