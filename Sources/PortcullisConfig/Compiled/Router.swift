import PortcullisCore

/// Model and path lookup, built once per snapshot. A final class (its fields never change): the
/// routing and plan stages reach it once per request, and a struct would be copied out of the
/// snapshot with a retain per table each time.
///
/// Precedence (documented in the README): an exact model name beats any glob; among globs the
/// first in config order wins. Among path prefixes the longest wins, and a prefix only matches
/// at a boundary (`/`, `:` or the end), so `/v1/models/iris` does not catch `/v1/models/iris2`.
/// The catch-all route comes last: it takes a model no name or glob matches, and a path that is
/// neither a built-in endpoint nor under a prefix (``catchAll``, applied by the callers).
public final class Router: Sendable {
    /// An exact model name's route, and the name's position in ``ConfigSnapshot/exposedModels``.
    public struct ExactMatch: Sendable {
        public let route: Route
        public let model: Int
    }

    /// Keyed by bytes (``ExactName``), not by `String` equality, which is canonical equivalence.
    let exact: [ExactName: ExactMatch]
    let globs: [(Glob, Route)]
    let prefixes: [(String, Route)]
    /// The route for whatever no other route matches, model-routed or not (nil: those are 404).
    public let catchAll: Route?

    init(exact: [ExactName: ExactMatch], globs: [(Glob, Route)], prefixes: [(String, Route)], catchAll: Route? = nil) {
        self.catchAll = catchAll
        self.exact = exact
        self.globs = globs
        self.prefixes = prefixes.sorted { $0.0.utf8.count > $1.0.utf8.count }
    }

    public func route(model: String) -> Route? {
        self.match(model: model)?.route
    }

    /// The route a request for `model` takes: its own, else the catch-all.
    public func serving(model: String) -> Route? {
        self.match(model: model)?.route ?? self.catchAll
    }

    /// The route for `model`, and the name's position among the exposed models (nil when a
    /// glob matched: the name is the client's, not one the config lists).
    public func match(model: String) -> (route: Route, model: Int?)? {
        if let match = self.exact[ExactName(model)] { return (match.route, match.model) }
        for (glob, route) in self.globs where glob.matches(model) {
            return (route, nil)
        }
        return nil
    }

    public func route(path: String) -> Route? {
        for (prefix, route) in self.prefixes where path.utf8.starts(with: prefix.utf8) {
            if prefix.hasSuffix("/") { return route }
            let rest = path.utf8.dropFirst(prefix.utf8.count)
            if let next = rest.first {
                if next == UInt8(ascii: "/") || next == UInt8(ascii: ":") { return route }
            } else {
                return route
            }
        }
        return nil
    }
}
