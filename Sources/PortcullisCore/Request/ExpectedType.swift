

/// What a request parameter should have been.
public enum ExpectedType: String, Sendable, Hashable {
    case boolean = "a boolean"
    case object = "an object"
    case nonNegativeInteger = "a non-negative integer"
    case positiveInteger = "an integer of at least 1"
    case number = "a number"
    case array = "an array"
    case string = "a string"
    case role = "one of system, developer, user, assistant, tool, function"
    case content = "a string, null, or an array of content parts"
    case stringOrArray = "a string or an array"
}
