/// A header of a policy service's denial, passed to the client as the service sent it: its
/// name lowercase and a plain token, its value safe on the wire, never one that frames the
/// answer or that the gateway writes itself (checked where the answer is read,
/// `AuthorizationDecision.deniedHeaders`).
public struct PassedHeader: Sendable, Equatable {
    public let name: String
    public let value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
