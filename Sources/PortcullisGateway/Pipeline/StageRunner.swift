import PortcullisCore

/// Runs one pass of a snapshot's stages over an exchange, from a given index, until one
/// refuses, one suspends, or all proceed. Pure apart from what the stages themselves record on
/// the exchange, so it is tested with stages of the tests' own.
enum StageRunner {
    enum Result {
        case passed
        case refused(GatewayError)
        case suspended(at: Int, Suspension)
    }

    static func run(_ stages: [any Stage], from start: Int, on exchange: Exchange) -> Result {
        var index = start
        let trace = exchange.trace
        while index < stages.count {
            trace?.stageStarted(stages[index].name)
            let result = stages[index].evaluate(exchange)
            trace?.stageEnded(result)
            switch result {
            case .proceed:
                index += 1
            case .refuse(let error):
                return .refused(error)
            case .suspend(let suspension):
                return .suspended(at: index, suspension)
            }
        }
        return .passed
    }
}
