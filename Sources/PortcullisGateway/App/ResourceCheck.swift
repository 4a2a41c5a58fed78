import Foundation
import NIOSSL
import PortcullisConfig

#if canImport(Glibc)
import Glibc
#endif

/// Opens every file a compiled config names, the way `serve` will, so `check` (and a reload)
/// refuses a config that cannot start: listener certificates, keys and client-CA bundles,
/// backend CA bundles, JWKS files (parsed, with at least one usable key) and their CA bundles,
/// and the access-log file. Each problem names its YAML path, line and file.
enum ResourceCheck {
    static func problems(in config: ConfigSnapshot) -> [Diagnostic] {
        var problems: [Diagnostic] = []
        func report(_ location: SourceLocation?, _ suffix: String, _ message: String) {
            let path = location.map { suffix.isEmpty ? $0.path : "\($0.path).\(suffix)" } ?? suffix
            problems.append(Diagnostic(path: path, line: location?.line, message: message))
        }

        for listener in config.listeners {
            guard let tls = listener.tls else { continue }
            var readable = true
            for (suffix, file, what) in [("certificate", tls.certificate, "certificate"), ("key", tls.key, "private key")]
                + (tls.clientCA.map { [("clientCA", $0, "client CA bundle")] } ?? [])
            {
                if let problem = Self.unreadable(file, what: what) {
                    report(tls.location, suffix, problem)
                    readable = false
                }
            }
            guard readable else { continue }
            do {
                _ = try TLSContextStore.makeContext(tls, offersHTTP2: listener.http2.enabled)
            } catch {
                report(tls.location, "", "the TLS certificate, key or CA could not be loaded (\(error)); files: \(tls.certificate), \(tls.key)\(tls.clientCA.map { ", \($0)" } ?? "")")
            }
        }

        for backend in config.source.backends {
            if let ca = backend.tls.ca, let problem = Self.unreadable(ca, what: "CA bundle") ?? Self.unloadableCertificates(ca) {
                report(backend.location, "tls.ca", problem)
            }
            if let certificate = backend.tls.certificate, let key = backend.tls.key {
                if let problem = Self.unreadable(certificate, what: "client certificate") ?? Self.unloadableCertificates(certificate) {
                    report(backend.location, "tls.certificate", problem)
                } else if let problem = Self.unreadable(key, what: "client key") {
                    report(backend.location, "tls.key", problem)
                } else if (try? NIOSSLPrivateKey(file: key, format: .pem)) == nil {
                    report(backend.location, "tls.key", "'\(key)' holds no PEM private key")
                }
            }
        }

        for provider in config.authentication.jwtProviders {
            let spec = provider.spec
            if let file = spec.jwksFile {
                if let problem = Self.unreadable(file, what: "JWKS file") {
                    report(spec.location, "jwks.file", problem)
                } else if let data = FileManager.default.contents(atPath: file) {
                    if data.count > spec.maxJWKSBytes {
                        report(spec.location, "jwks.file", "'\(file)' is larger than jwks.maxBytes (\(spec.maxJWKSBytes))")
                    } else if case .failure(let problem) = JWKSet.parse(Array(data), allowed: provider.algorithms) {
                        report(spec.location, "jwks.file", "'\(file)': \(problem)")
                    }
                }
            }
            if let ca = spec.jwksCA, let problem = Self.unreadable(ca, what: "CA bundle") ?? Self.unloadableCertificates(ca) {
                report(spec.location, "jwks.ca", problem)
            }
        }

        if config.accessLog.isFile, let problem = Self.unwritable(config.accessLog.destination) {
            report(config.accessLog.location, config.accessLog.location == nil ? "accessLog.destination" : "", problem)
        }
        return problems
    }

    private static func unreadable(_ path: String, what: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return "cannot read \(what) '\(path)': no such file"
        }
        if isDirectory.boolValue { return "cannot read \(what) '\(path)': it is a directory" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "cannot read \(what) '\(path)': permission denied" }
        return nil
    }

    private static func unloadableCertificates(_ path: String) -> String? {
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            return certificates.isEmpty ? "'\(path)' holds no PEM certificate" : nil
        } catch {
            return "'\(path)' is not a PEM certificate bundle (\(error))"
        }
    }

    /// Whether the access log can be appended to, without creating or changing anything.
    private static func unwritable(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "cannot open access log '\(path)': it is a directory" }
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { return "cannot open access log '\(path)' for appending (\(String(cString: strerror(errno))))" }
            close(fd)
            return nil
        }
        let folder = (path as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "cannot create access log '\(path)': the folder '\(directory)' does not exist"
        }
        guard access(directory, W_OK) == 0 else {
            return "cannot create access log '\(path)': the folder '\(directory)' is not writable"
        }
        return nil
    }
}
