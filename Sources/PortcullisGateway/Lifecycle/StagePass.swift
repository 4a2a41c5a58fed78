import PortcullisCore

/// Which stages run: before the body is read, or after.
enum StagePass: Sendable, Equatable {
    case head, body
}
