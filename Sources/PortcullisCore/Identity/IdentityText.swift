/// Identity values (tenant, org, plan) travel to backends in headers (`x-tenant-id`, …) and
/// into the tenant-context signature: 1…256 bytes of printable ASCII, and none of the bytes
/// that would change what a header says: no `,` (a list separator, so `a,b` would read as two
/// tenants), `;`, `"` or `\`. A claim that breaks this is refused, never blanked or passed on.
public enum IdentityText {
    public static func isSafe(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 256 else { return false }
        return utf8.allSatisfy { byte in
            byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: ",") && byte != UInt8(ascii: ";")
                && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
        }
    }
}
