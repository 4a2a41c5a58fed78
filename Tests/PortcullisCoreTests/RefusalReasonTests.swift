import Testing

@testable import PortcullisCore

@Suite struct RefusalReasonTests {
    /// Per-loop refusal counters are indexed by `ordinal`: it must be each case's position.
    @Test func ordinalIsThePositionInAllCases() {
        for (position, reason) in RefusalReason.allCases.enumerated() {
            #expect(reason.ordinal == position, "\(reason)")
        }
    }

    @Test func everyCategoryLabelIsAFixedSnakeCaseString() {
        for reason in RefusalReason.allCases {
            let label = reason.category.rawValue
            #expect(!label.isEmpty && label.allSatisfy { $0.isLowercase || $0 == "_" }, "\(reason)")
        }
        #expect(RefusalReason.unauthenticated.category == .auth)
        #expect(RefusalReason.forbidden.category == .policy)
        #expect(RefusalReason.malformedJSON.category == .validation)
        #expect(RefusalReason.modelNotFound.category == .routing)
    }
}
