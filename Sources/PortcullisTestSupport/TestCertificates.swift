import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwiftASN1
import X509

/// Real X.509 certificates made by the tests: a CA, server certificates for 127.0.0.1 and
/// localhost, and client certificates carrying a SPIFFE ID, a DNS name or just a common name,
/// written as PEM files into a directory.
public struct TestCertificates: Sendable {
    public let directory: String
    public let caKey: P256.Signing.PrivateKey
    public let caCertificate: Certificate
    public var caPath: String { self.directory + "/ca.pem" }

    public init(directory: String, caName: String = "Portcullis Test CA") throws {
        self.directory = directory
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(caName) }
        let now = Date()
        self.caKey = key
        self.caCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + 86400, issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        try Self.write(try self.caCertificate.serializeAsPEM().pemString, to: self.caPath)
    }

    /// A leaf certificate signed by this CA. Returns (certificate path, key path).
    @discardableResult
    public func issue(
        name: String, commonName: String, dnsNames: [String] = [], ipAddresses: [[UInt8]] = [], uris: [String] = [],
        server: Bool, validFor: TimeInterval = 86400
    ) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(commonName) }
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        names += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        names += uris.map { .uniformResourceIdentifier($0) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + validFor, issuer: self.caCertificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                try ExtendedKeyUsage([server ? .serverAuth : .clientAuth])
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: .init(self.caKey))
        let certificatePath = "\(self.directory)/\(name).pem"
        let keyPath = "\(self.directory)/\(name)-key.pem"
        try Self.write(try certificate.serializeAsPEM().pemString, to: certificatePath)
        try Self.write(key.pemRepresentation, to: keyPath)
        return (certificatePath, keyPath)
    }

    /// A server certificate for 127.0.0.1 and localhost.
    @discardableResult
    public func issueServer(name: String = "server", commonName: String = "localhost") throws -> (certificate: String, key: String) {
        try self.issue(
            name: name, commonName: commonName, dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]], server: true)
    }

    static func write(_ text: String, to path: String) throws {
        // Write-then-rename so a watcher never sees a half-written file.
        let temporary = path + ".tmp-\(UUID().uuidString)"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else { throw TestFailure("cannot rename \(temporary) to \(path)") }
    }
}
