/// Static edits of the request headers sent upstream (`headers:` on a backend or a route),
/// applied after the trusted headers. Names are lowercased when read.
///
/// ```yaml
/// headers:
///   set: { anthropic-version: "2023-06-01" }   # replaces a client header of the name
///   add: { x-gateway: portcullis }             # sent beside a client header of the name
///   remove: [x-debug]                          # the client's copy is not sent
/// ```
public struct HeaderEditsSpec: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var set: [Field] = []
    public var add: [Field] = []
    public var remove: [String] = []
    public var location: SourceLocation?

    public init() {}

    public var isEmpty: Bool { self.set.isEmpty && self.add.isEmpty && self.remove.isEmpty }
}
