import PortcullisCore

extension ConfigCompiler {
    /// External authorization services by name: URLs parse, header lists make sense.
    func compileAuthorizers(_ file: ConfigFile, report: (SourceLocation, String, String) -> Void) -> [String: ExternalAuthorizer] {
        var authorizers: [String: ExternalAuthorizer] = [:]
        for spec in file.externalAuthorization {
            guard case .success(let endpoint) = UpstreamEndpoint.parse(spec.url) else {
                report(spec.location, "url", "not a valid URL; expected http(s)://host[:port][/path]")
                continue
            }
            if spec.wireProtocol == .grpc && endpoint.scheme != .http {
                report(spec.location, "url", "gRPC authorization is plaintext HTTP/2 for now: use http://host:port")
            }
            for name in spec.clientHeaders
            where ExternalAuthorizer.framingHeaders.contains(name) || ExternalAuthorizer.isProtected(name) || name == "cookie" {
                report(
                    spec.location, "clientHeaders",
                    "'\(name)' is not sent to a policy service (the gateway sends the verified identity itself, never the client's credential)")
            }
            for name in spec.upstreamHeaders where ExternalAuthorizer.framingHeaders.contains(name) {
                report(spec.location, "upstreamHeaders", "'\(name)' frames or routes the request and cannot be set by a policy answer")
            }
            for (key, names) in [("upstreamHeaders", spec.upstreamHeaders), ("clientHeaders", spec.clientHeaders)] {
                for name in names where !Self.isHeaderName(key == "upstreamHeaders" && name.hasSuffix("*") ? String(name.dropLast()) : name) {
                    report(spec.location, key, "'\(name)' is not a header name")
                }
            }
            authorizers[spec.name] = ExternalAuthorizer(spec: spec, endpoint: endpoint)
        }
        if let authz = file.authz, let listener = authz.listener, !file.listeners.contains(where: { $0.name == listener }) {
            report(authz.location, "listener", "no listener is named '\(listener)'")
        }
        return authorizers
    }
}

extension ConfigCompiler {
    /// An RFC 9110 token (what a header name is made of).
    public static func isHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}
