import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import PortcullisConfig

/// A listener's TLS server context, rebuilt when its certificate, key or client-CA files
/// change, so certificates rotate without a restart. New connections get the new context;
/// connections already open keep theirs. A set of files that fails to load is refused and the
/// previous context stays.
final class TLSContextStore: Sendable {
    let spec: TLSSpec
    let offersHTTP2: Bool
    private let state: NIOLockedValueBox<(context: NIOSSLContext, stamps: [FileStamp])>
    private let logger: Logger

    struct FileStamp: Equatable, Sendable {
        var path: String
        var modified: Date?
        var size: Int?
        var inode: Int?
    }

    init(spec: TLSSpec, offersHTTP2: Bool, logger: Logger) throws {
        self.spec = spec
        self.offersHTTP2 = offersHTTP2
        self.logger = logger
        let stamps = Self.stamps(spec)
        let context = try Self.makeContext(spec, offersHTTP2: offersHTTP2)
        self.state = NIOLockedValueBox((context, stamps))
    }

    var current: NIOSSLContext { self.state.withLockedValue { $0.context } }

    /// Rebuilds the context if any file changed (or always, with `force`). Returns whether a new
    /// context is in use.
    @discardableResult
    func reloadIfChanged(force: Bool = false) -> Bool {
        let stamps = Self.stamps(self.spec)
        let unchanged = self.state.withLockedValue { $0.stamps == stamps }
        if unchanged && !force { return false }
        do {
            let context = try Self.makeContext(self.spec, offersHTTP2: self.offersHTTP2)
            self.state.withLockedValue { $0 = (context, stamps) }
            self.logger.info("TLS certificate reloaded", metadata: ["certificate": "\(self.spec.certificate)"])
            return true
        } catch {
            // Keep serving with the previous files (a half-written rotation must not take the listener down).
            self.state.withLockedValue { $0.stamps = stamps }
            self.logger.error("TLS reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
            return false
        }
    }

    static func makeContext(_ spec: TLSSpec, offersHTTP2: Bool) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(spec.certificate)
        let key = try NIOSSLPrivateKey(file: spec.key, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = spec.minimumVersion == "1.3" ? .tlsv13 : .tlsv12
        configuration.applicationProtocols = offersHTTP2 ? ["h2", "http/1.1"] : ["http/1.1"]
        if let ca = spec.clientCA {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        switch spec.clientAuth {
        case .none: configuration.certificateVerification = .none
        case .optional: configuration.certificateVerification = .optionalVerification
        case .required: configuration.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func stamps(_ spec: TLSSpec) -> [FileStamp] {
        [spec.certificate, spec.key, spec.clientCA].compactMap { $0 }.map { path in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            return FileStamp(
                path: path, modified: attributes?[.modificationDate] as? Date, size: (attributes?[.size] as? NSNumber)?.intValue,
                inode: (attributes?[.systemFileNumber] as? NSNumber)?.intValue)
        }
    }
}
