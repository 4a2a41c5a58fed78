import NIOCore
import PortcullisCore

/// The ordered stages of a snapshot, split by phase. Order is data, so it can be printed
/// (admin `/config`).
public struct Pipeline: Sendable {
    public let headStages: [any Stage]
    public let bodyStages: [any Stage]

    public init(_ stages: [any Stage]) {
        self.headStages = stages.filter { $0.phase == .head }
        self.bodyStages = stages.filter { $0.phase == .body }
    }

    public var stageNames: [String] { (self.headStages + self.bodyStages).map(\.name) }

    func stages(_ pass: StagePass) -> [any Stage] {
        pass == .head ? self.headStages : self.bodyStages
    }
}
