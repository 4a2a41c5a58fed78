/// What a check decided, for the transport to turn into a `CheckResponse`.
public enum CheckVerdict: Sendable, Equatable {
    /// Forward the request (`OkHttpResponse`): headers to set upstream (replacing any of the same
    /// name), headers to append beside the client's, client headers to remove, and headers
    /// for the response to the client.
    case allow(set: [Header], append: [Header], remove: [String], responseHeaders: [Header])
    /// Answer the client directly (`DeniedHttpResponse`): a refusal the gateway would send
    /// itself, or a local answer (`GET /v1/models`, status 200), with its headers and body.
    case answer(status: Int, headers: [Header], body: String)

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }
}
