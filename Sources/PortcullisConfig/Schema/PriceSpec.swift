import PortcullisCore

/// One entry of `prices:`: what a model's tokens cost (dollars per million, kept in µUSD).
public struct PriceSpec: Sendable, Equatable {
    /// An exact model name, or a `*` / `?` glob.
    public var model: String
    public var price: ModelPrice
    public var location: SourceLocation
}
