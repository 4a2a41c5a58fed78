import NIOHTTP1
import Testing

@testable import PortcullisGateway

@Suite("W3C trace-context headers")
struct TraceHeadersTests {
    static let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidParentAndStateAreKeptAndStateLinesJoined() throws {
        let carrier = try #require(
            TraceHeaders.Carrier(["traceparent": Self.parent, "tracestate": "a=1", "TraceState": "b@t=x y", "authorization": "Bearer k"]))
        #expect(carrier.parent == Self.parent)
        #expect(carrier.state == "a=1,b@t=x y")
    }

    @Test(arguments: ["=bad=", "A=1", "a=", "a=1=2", "a=1,,b", String(repeating: "k=v,", count: 33)])
    func aBadStateIsDroppedAndTheParentKept(state: String) throws {
        let carrier = try #require(TraceHeaders.Carrier(["traceparent": Self.parent, "tracestate": state]))
        #expect(carrier.state == nil)
    }

    @Test(arguments: [
        "00-zzzz-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ])
    func aBadParentStartsANewTrace(parent: String) {
        #expect(TraceHeaders.Carrier(["traceparent": parent]) == nil)
    }

    @Test func onlyTheTwoTraceContextNamesAreReplaced() {
        #expect(TraceHeaders.isTraceContext("traceparent") && TraceHeaders.isTraceContext("TraceState"))
        #expect(!TraceHeaders.isTraceContext("traceparents") && !TraceHeaders.isTraceContext("x-trace"))
    }
}
