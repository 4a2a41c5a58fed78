

/// What a request parameter should have been.
public enum ExpectedType: String, Sendable, Hashable {
    case boolean = "a boolean"
    case object = "an object"
    case nonNegativeInteger = "a non-negative integer"
    case positiveInteger = "an integer of at least 1"
    case number = "a number"
}
