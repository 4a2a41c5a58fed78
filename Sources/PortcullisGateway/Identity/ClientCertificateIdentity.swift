import NIOSSL
import PortcullisConfig
import X509

/// What a verified client certificate says about its holder: SPIFFE IDs (URI SANs starting
/// with `spiffe://`), DNS SANs and the subject common name.
struct ClientCertificateIdentity: Sendable, Equatable {
    var spiffeIDs: [String]
    var dnsNames: [String]
    var commonName: String?

    init(spiffeIDs: [String], dnsNames: [String], commonName: String?) {
        self.spiffeIDs = spiffeIDs
        self.dnsNames = dnsNames
        self.commonName = commonName
    }

    /// Reads a peer certificate NIOSSL has already verified against the listener's CA.
    init?(certificate: NIOSSLCertificate) {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        self.init(parsed)
    }

    /// Reads a PEM certificate another proxy verified (Envoy's `attributes.source.certificate`
    /// in an ext_authz check, already URL-decoded).
    init?(pem: String) {
        guard let parsed = try? Certificate(pemEncoded: pem) else { return nil }
        self.init(parsed)
    }

    private init(_ parsed: Certificate) {
        var spiffe: [String] = []
        var dns: [String] = []
        if let names = try? parsed.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .uniformResourceIdentifier(let uri) where uri.hasPrefix("spiffe://"): spiffe.append(uri)
                case .dnsName(let host): dns.append(host.lowercased())
                default: break
                }
            }
        }
        var commonName: String?
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                commonName = attribute.value.description
            }
        }
        self.init(spiffeIDs: spiffe, dnsNames: dns, commonName: commonName)
    }

    /// The first mapping (in config order) this certificate satisfies.
    func match(_ mappings: [CertificateMapping]) -> CertificateMapping? {
        mappings.first { mapping in
            switch mapping.field {
            case .spiffe: self.spiffeIDs.contains { mapping.pattern.matches($0) }
            case .dns: self.dnsNames.contains { mapping.pattern.matches($0) }
            case .commonName: self.commonName.map { mapping.pattern.matches($0) } ?? false
            }
        }
    }
}
