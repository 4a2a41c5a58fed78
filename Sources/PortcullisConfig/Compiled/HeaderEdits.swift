/// The header edits of one route toward one of its backends, merged when the config is
/// compiled, so forwarding a request only walks two short arrays.
///
/// Order on the wire: the client's headers (minus ``dropped``), the trusted identity, then
/// ``fields``: the backend's edits, the route's, then the backend's credential (with
/// `accept-encoding: identity`, so its error answers can be scrubbed). A route's
/// `set` or `remove` of a name overrides the backend's edit of it. No edit can touch a name
/// the gateway owns (``HeaderRules/isOwnedUpstream(_:)``), so the identity stays trusted.
public struct HeaderEdits: Sendable {
    /// Lowercased names whose client copies are not sent: every `set` and `remove` name, and
    /// the credential's header.
    public let dropped: [String]
    /// Fields written after the trusted headers, in order.
    public let fields: [(name: String, value: String)]

    public static let none = HeaderEdits(dropped: [], fields: [])

    public var isEmpty: Bool { self.dropped.isEmpty && self.fields.isEmpty }

    init(dropped: [String], fields: [(name: String, value: String)]) {
        self.dropped = dropped
        self.fields = fields
    }

    /// `backend`'s edits, then `route`'s, then `credential`.
    init(backend: HeaderEditsSpec, route: HeaderEditsSpec, credential: BackendCredential?) {
        let routeOwned = Set(route.set.map(\.name) + route.remove)
        var dropped: [String] = []
        var fields: [(name: String, value: String)] = []
        for name in backend.set.map(\.name) + backend.remove + route.set.map(\.name) + route.remove where !dropped.contains(name) {
            dropped.append(name)
        }
        for field in backend.set + backend.add where !routeOwned.contains(field.name) {
            fields.append((field.name, field.value))
        }
        for field in route.set + route.add { fields.append((field.name, field.value)) }
        if let credential {
            if !dropped.contains(credential.header) { dropped.append(credential.header) }
            fields.append((credential.header, credential.value))
            // Error answers are scrubbed of the credential, which needs them uncompressed.
            if !dropped.contains("accept-encoding") && !fields.contains(where: { $0.name == "accept-encoding" }) {
                dropped.append("accept-encoding")
                fields.append(("accept-encoding", "identity"))
            }
        }
        self.init(dropped: dropped, fields: fields)
    }
}
