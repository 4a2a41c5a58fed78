import NIOHTTP1
import Tracing

/// W3C trace-context headers (`traceparent`, `tracestate`) read from a client's head and
/// written toward a backend, as swift-distributed-tracing's extractor and injector.
enum TraceHeaders {
    struct Extract: Extractor {
        func extract(key: String, from carrier: HTTPHeaders) -> String? {
            carrier.first(name: key)
        }
    }

    struct Inject: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
            carrier.append((key, value))
        }
    }

    /// The trace-context header names, which the gateway replaces when it traces.
    static func isTraceContext(_ name: String) -> Bool {
        switch name.utf8.count {
        case 10: HeaderRules.equalsIgnoringCase(name, "tracestate")
        case 11: HeaderRules.equalsIgnoringCase(name, "traceparent")
        default: false
        }
    }
}
