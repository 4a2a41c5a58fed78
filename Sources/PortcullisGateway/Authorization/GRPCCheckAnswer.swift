/// A `CheckResponse` as the gateway reads it.
public enum GRPCCheckAnswer: Sendable, Equatable {
    /// `status.code` OK with its `ok_response`: headers to set (or append), names to remove.
    case ok(headers: [HeaderEdit], remove: [String])
    /// Any other status, with its `denied_response` (status 0: none given).
    case denied(status: Int, headers: [HeaderEdit], body: String)
    case failed(AuthorizationDecision.Failure)

    public struct HeaderEdit: Sendable, Equatable {
        public var name: String
        public var value: String
        public var append: Bool

        public init(name: String, value: String, append: Bool) {
            self.name = name
            self.value = value
            self.append = append
        }
    }
}
