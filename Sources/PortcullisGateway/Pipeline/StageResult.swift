import NIOCore
import PortcullisCore

public enum StageResult {
    case proceed
    case refuse(GatewayError)
    case suspend(Suspension)
}
