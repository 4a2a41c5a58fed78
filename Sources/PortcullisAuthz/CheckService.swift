import GRPCCore
import PortcullisGateway

/// `Check`: the request Envoy describes, through the gateway's stages (``CheckEngine``).
struct CheckService: Envoy_Service_Auth_V3_Authorization.SimpleServiceProtocol {
    let engine: CheckEngine

    func check(
        request: Envoy_Service_Auth_V3_CheckRequest, context: ServerContext
    ) async throws -> Envoy_Service_Auth_V3_CheckResponse {
        let (verdict, cancel) = self.engine.check(CheckRequestReading.input(request))
        let answer = try await withTaskCancellationHandler {
            try await verdict.get()
        } onCancel: {
            cancel()
        }
        return CheckRequestReading.response(answer)
    }
}
