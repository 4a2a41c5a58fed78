import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore
import NIOSSL

/// After routing: a route may accept only some authentication methods. Runs as a head stage
/// for path-prefix routes (known before the body, so a refused caller's body is never read)
/// and as a body stage for model routes (known once the body named the model).
struct RouteAuthenticationStage: Stage {
    let phase: StagePhase
    var name: String { self.phase == .head ? "route-authentication(path)" : "route-authentication(model)" }

    func evaluate(_ exchange: Exchange) -> StageResult {
        guard exchange.endpoint.readsModelFromBody == (self.phase == .body) else { return .proceed }
        guard let allowed = exchange.route?.allowedMethods else { return .proceed }
        guard let identity = exchange.identity, allowed.contains(identity.method) else {
            exchange.authFailure = .routeMethod
            return .refuse(.methodNotAccepted(allowed.sorted { $0.rawValue < $1.rawValue }))
        }
        return .proceed
    }
}
