import PortcullisCore

/// The config's prices, looked up by the model a request names (as the client wrote it,
/// before a route's `rewriteModel`): an exact name first, then the globs in config order. A
/// model without a price costs nothing against a budget (a self-hosted model may be free);
/// `portcullis explain` shows the price a request meets.
public struct ModelPrices: Sendable {
    let exact: [String: ModelPrice]
    let globs: [(Glob, ModelPrice)]

    init(_ specs: [PriceSpec]) {
        var exact: [String: ModelPrice] = [:]
        var globs: [(Glob, ModelPrice)] = []
        for spec in specs {
            let glob = Glob(spec.model)
            if glob.isLiteral {
                if exact[spec.model] == nil { exact[spec.model] = spec.price }
            } else {
                globs.append((glob, spec.price))
            }
        }
        self.exact = exact
        self.globs = globs
    }

    public var isEmpty: Bool { self.exact.isEmpty && self.globs.isEmpty }

    public func price(for model: String?) -> ModelPrice? {
        guard let model, !self.isEmpty else { return nil }
        if let price = self.exact[model] { return price }
        return self.globs.first { $0.0.matches(model) }?.1
    }
}
