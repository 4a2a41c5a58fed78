import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore
import NIOSSL

/// Proves who is calling, before the body is read.
///
/// Every credential the request presents and the listener accepts is verified: the client
/// certificate (mTLS), a bearer JWT, an API key (`Authorization: Bearer` or `x-api-key`). Any
/// invalid credential refuses the request (401, never a fall-through to another method); valid
/// ones must all name the same tenant (403 `identity_conflict` otherwise); the identity is the
/// first in the configured order. Without a credential: 401 when authentication is required.
struct AuthenticationStage: Stage {
    let settings: AuthenticationSettings
    let tenants: TenantDirectory
    let providers: [String: JWTProvider]
    let providerConfigs: [String: JWTProviderConfig]
    let providersByIssuer: [String: JWTProviderConfig]
    let maxTokenBytes: Int
    let wallClock: @Sendable () -> Double
    /// Methods each listener accepts, intersected with the configured ones once, not per request.
    let allowedByListener: [String: (methods: Set<AuthMethod>, required: Bool)]
    let defaultAllowed: (methods: Set<AuthMethod>, required: Bool)

    var name: String { "authenticate" }
    var phase: StagePhase { .head }

    init(config: ConfigSnapshot, providers: [String: JWTProvider], wallClock: @escaping @Sendable () -> Double) {
        self.settings = config.authentication
        self.tenants = config.tenants
        self.providers = providers
        self.providerConfigs = Dictionary(uniqueKeysWithValues: config.authentication.jwtProviders.map { ($0.name, $0) })
        self.providersByIssuer = Dictionary(uniqueKeysWithValues: config.authentication.jwtProviders.map { ($0.spec.issuer, $0) })
        self.maxTokenBytes = config.authentication.jwtProviders.map(\.spec.maxTokenBytes).max() ?? 16 * 1024
        self.wallClock = wallClock
        let configured = config.authentication.configured
        self.allowedByListener = config.listenerPolicies.mapValues { policy in
            ((policy.methods ?? configured).intersection(configured), policy.required)
        }
        self.defaultAllowed = (configured, config.authentication.required)
    }

    /// What verifying one credential came to.
    private enum Verification {
        case proven(Identity)
        case refused(AuthFailure)
        /// An unknown `kid`: the key set is being refetched (once); `cancel` withdraws the wait.
        case wait(EventLoopFuture<Void>, cancel: @Sendable () -> Void, deadline: NIODeadline)
    }

    func evaluate(_ exchange: Exchange) -> StageResult {
        let (allowed, required) = self.allowedByListener[exchange.listenerName] ?? self.defaultAllowed
        var proofs: [Identity] = []
        proofs.reserveCapacity(2)

        // Client certificate.
        if allowed.contains(.mtls), let certificate = exchange.connection.clientCertificate(),
            let mapping = certificate.match(self.settings.certificateMappings)
        {
            proofs.append(
                Identity(tenant: mapping.tenant, org: nil, plan: nil, subject: certificate.spiffeIDs.first ?? certificate.commonName,
                         method: .mtls, credentialName: mapping.name))
        }

        // Credential headers.
        var authorization: String?
        var apiKeyHeader: String?
        for (name, value) in exchange.head.headers {
            if HeaderRules.equalsIgnoringCase(name, "authorization") {
                if authorization != nil { return self.refuse(exchange, .duplicateAuthorization) }
                authorization = value
            } else if HeaderRules.equalsIgnoringCase(name, "x-api-key") {
                if apiKeyHeader != nil { return self.refuse(exchange, .duplicateAPIKey) }
                apiKeyHeader = value
            }
        }
        if let authorization, allowed.contains(.jwt) || allowed.contains(.apiKey) {
            guard let token = Self.bearerToken(authorization) else {
                return self.refuse(exchange, .authorizationScheme)
            }
            if allowed.contains(.jwt) && Self.looksLikeJWT(token) {
                switch self.verifyJWT(token, exchange: exchange) {
                case .proven(let identity): proofs.append(identity)
                case .refused(let failure): return self.refuse(exchange, failure)
                case .wait(let future, let cancel, let deadline):
                    return self.suspend(exchange, until: future, cancel: cancel, deadline: deadline)
                }
            } else if allowed.contains(.apiKey) {
                switch self.verifyAPIKey(token) {
                case .proven(let identity): proofs.append(identity)
                case .refused(let failure): return self.refuse(exchange, failure)
                case .wait: break
                }
            } else {
                return self.refuse(exchange, .tokenNotJWT)
            }
        }
        if let apiKeyHeader, allowed.contains(.apiKey) {
            switch self.verifyAPIKey(Substring(apiKeyHeader)) {
            case .proven(let identity): proofs.append(identity)
            case .refused(let failure): return self.refuse(exchange, failure)
            case .wait: break
            }
        }

        guard var identity = self.pick(proofs) else {
            if proofs.isEmpty {
                guard required else { return .proceed }
                exchange.authFailure = .missingCredentials
                return .refuse(.missingCredentials(apiKeyAccepted: allowed.contains(.apiKey)))
            }
            exchange.authFailure = .identityConflict
            return .refuse(.identityConflict)
        }

        // The platform's own tenant table is authoritative for plan and org (a listed tenant
        // without a plan has none, whatever its token claims). A refused tenant is still recorded
        // as the identity, so the access log says which tenant it was.
        if let tenant = self.tenants.tenants[identity.tenant] {
            exchange.tenantIndex = tenant.index
            identity.plan = tenant.plan
            if let org = tenant.org { identity.org = org }
            exchange.identity = identity
            if tenant.disabled {
                exchange.authFailure = .tenantDisabled
                return .refuse(.tenantDisabled)
            }
            if let reason = tenant.suspendedReason {
                return .refuse(.tenantSuspended(reason: reason))
            }
            // Its plan with its own overrides, compiled once (the compiler checked the plan exists).
            exchange.plan = tenant.policy
            return .proceed
        } else if let plan = self.settings.unknownTenantPlan {
            // Not in the table: the configured plan, whatever the token claims.
            identity.plan = plan
        } else if self.settings.requireKnownTenant {
            exchange.identity = identity
            exchange.authFailure = .unknownTenant
            return .refuse(.unknownTenant)
        }
        exchange.identity = identity
        if let name = identity.plan {
            // A plan the config does not define is refused, never taken as "no limits" (when
            // plans are defined at all; without any, a plan name is only a label passed on).
            guard let plan = self.tenants.plans[name] else {
                if self.tenants.plans.isEmpty { return .proceed }
                return .refuse(.unknownPlan)
            }
            exchange.plan = plan
        }
        return .proceed
    }

    /// All proofs must agree on the tenant; the first in the configured order wins.
    private func pick(_ proofs: [Identity]) -> Identity? {
        guard let first = proofs.first else { return nil }
        guard proofs.allSatisfy({ $0.tenant == first.tenant }) else { return nil }
        for method in self.settings.order {
            if let proof = proofs.first(where: { $0.method == method }) { return proof }
        }
        return first
    }

    private func refuse(_ exchange: Exchange, _ failure: AuthFailure) -> StageResult {
        exchange.authFailure = failure
        return .refuse(failure == .keysUnavailable ? .authUnavailable : .credentialRefused(failure))
    }

    /// Waits for the JWKS refetch an unknown `kid` triggered, then evaluates the request again
    /// (with `jwksRefetched` set, so the same `kid` is refused rather than waited on twice).
    /// A refetch that does not finish by the deadline is the platform's fault: 503.
    private func suspend(
        _ exchange: Exchange, until future: EventLoopFuture<Void>, cancel: @escaping @Sendable () -> Void, deadline: NIODeadline
    ) -> StageResult {
        exchange.jwksRefetched = true
        let stage = self
        let resumed = future.hop(to: exchange.eventLoop).assumeIsolated().map { _ -> SuspensionResult in
            switch stage.evaluate(exchange) {
            case .proceed: return .proceed
            case .refuse(let error): return .refuse(error)
            case .suspend: return .refuse(.credentialRefused(.tokenUnknownKeyID))  // cannot happen: refetched once
            }
        }.nonisolated()
        return .suspend(
            Suspension(
                future: resumed, deadline: deadline, stage: self.name, timeoutError: .authUnavailable,
                failureError: .authUnavailable, cancel: cancel))
    }

    // MARK: JWT

    private func verifyJWT(_ token: Substring, exchange: Exchange) -> Verification {
        guard token.utf8.count <= self.maxTokenBytes else { return .refused(.tokenTooLarge) }
        let now = self.wallClock()
        let cacheKey = TokenCache.Key(token: token)
        let cache = exchange.loop.tokenCache(capacity: self.settings.tokenCacheSize)
        if let entry = cache.lookup(cacheKey, now: now, version: { self.providers[$0]?.version }) {
            return .proven(entry.identity)
        }
        let parsed: ParsedToken
        switch ParsedToken.parse(token, maxBytes: self.maxTokenBytes) {
        case .success(let value): parsed = value
        case .failure(let failure): return .refused(failure)
        }
        guard let issuer = parsed.issuer, let config = self.providersByIssuer[issuer], let provider = self.providers[config.name]
        else {
            return .refused(.tokenUnknownIssuer)
        }
        let (currentKeys, version) = provider.currentKeysAndVersion()
        guard let keys = currentKeys else {
            // Never obtained keys: the platform's fault, not the caller's. Ask for a fetch anyway.
            provider.requestEarlyFetch()
            return .refused(.keysUnavailable)
        }
        switch JWTValidator.validate(parsed, provider: config, keys: keys, now: now) {
        case .success(let verified):
            let expiresAt = min(verified.expiresAt ?? .infinity, now + TokenCache.maximumAge)
            cache.insert(
                cacheKey, .init(identity: verified.identity, expiresAt: expiresAt, provider: config.name, keyVersion: version))
            return .proven(verified.identity)
        case .failure(.tokenUnknownKeyID) where !exchange.jwksRefetched:
            if let (future, cancel) = provider.refetchForUnknownKid(on: exchange.eventLoop) {
                return .wait(future, cancel: cancel, deadline: exchange.loop.now() + provider.refetchWaitLimit)
            }
            return .refused(.tokenUnknownKeyID)
        case .failure(let failure):
            return .refused(failure)
        }
    }

    // MARK: API keys

    private func verifyAPIKey(_ key: Substring) -> Verification {
        guard !key.isEmpty, key.utf8.count <= 512 else { return .refused(.apiKeyMalformed) }
        var key = key
        let digest = key.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        guard let presented = digest.withUnsafeBytes({ KeyDigest(unsafeBytes: $0) }), let entry = self.settings.apiKeys[presented]
        else {
            return .refused(.apiKeyUnknown)
        }
        guard !entry.disabled else { return .refused(.apiKeyDisabled) }
        return .proven(Identity(tenant: entry.tenant, org: nil, plan: nil, subject: entry.name, method: .apiKey, credentialName: entry.name))
    }

    // MARK: Helpers

    /// The token of `Bearer <token>` (scheme case-insensitive), or nil. One pass over the
    /// contiguous UTF-8 bytes: this runs on every authenticated request, with tokens of a
    /// kilobyte or more.
    static func bearerToken(_ value: String) -> Substring? {
        var value = value
        let bounds: Range<Int>? = value.withUTF8 { bytes -> Range<Int>? in
            var i = 0
            let count = bytes.count
            while i < count && bytes[i] == 0x20 { i += 1 }
            let scheme: StaticString = "bearer "
            let matched = scheme.withUTF8Buffer { expected -> Bool in
                guard count - i >= expected.count else { return false }
                for k in 0..<expected.count {
                    let byte = bytes[i + k]
                    let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
                    if folded != expected[k] { return false }
                }
                return true
            }
            guard matched else { return nil }
            i += 7
            while i < count && bytes[i] == 0x20 { i += 1 }
            var end = count
            while end > i && bytes[end - 1] == 0x20 { end -= 1 }
            guard end > i else { return nil }
            for k in i..<end where bytes[k] == 0x20 { return nil }
            return i..<end
        }
        guard let bounds else { return nil }
        let utf8 = value.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: bounds.lowerBound)
        let upper = utf8.index(utf8.startIndex, offsetBy: bounds.upperBound)
        return value[lower..<upper]
    }

    /// Three dot-separated parts: a JWS compact serialisation (API keys never contain dots).
    static func looksLikeJWT(_ token: Substring) -> Bool {
        var token = token
        return token.withUTF8 { bytes in
            var dots = 0
            for byte in bytes where byte == UInt8(ascii: ".") { dots += 1 }
            return dots == 2
        }
    }
}
