import NIOHTTP1
import PortcullisCore
import Tracing
import W3CTraceContext

/// W3C trace-context headers (`traceparent`, `tracestate`): read from a client's head and
/// written toward a backend, as swift-distributed-tracing's extractor and injector.
enum TraceHeaders {
    /// The client's trace context, checked before the tracer sees it. Only these two values are
    /// ever handed to the tracer: swift-otel logs the whole carrier when it cannot parse one,
    /// and the request's headers hold credentials.
    struct Carrier: Sendable {
        let parent: String
        let state: String?

        /// The client's `traceparent` and (every line of) `tracestate`, if they parse as W3C
        /// trace context (with swift-otel's own parser). A bad `tracestate` is dropped and the
        /// `traceparent` kept, as the W3C spec says; a bad `traceparent` starts a new trace.
        init?(_ headers: HTTPHeaders) {
            guard let parent = headers.first(name: "traceparent") else { return nil }
            let states = headers[canonicalForm: "tracestate"]
            let state = states.isEmpty ? nil : states.joined(separator: ",")
            if let state, Self.isValidState(state), (try? TraceContext(traceParentHeaderValue: parent, traceStateHeaderValue: state)) != nil {
                self.parent = parent
                self.state = state
            } else if (try? TraceContext(traceParentHeaderValue: parent)) != nil {
                self.parent = parent
                self.state = nil
            } else {
                return nil
            }
        }

        /// A `tracestate` as W3C trace context defines it (swift-otel's parser keeps anything):
        /// at most 32 `key=value` members, keys of lower-case letters, digits and `_-*/@`
        /// starting with a letter or digit, values of printable ASCII without `,` and `=`.
        static func isValidState(_ state: String) -> Bool {
            var members = 0
            for member in state.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                let trimmed = member.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
                if trimmed.isEmpty { continue }
                members += 1
                guard members <= 32, let equals = trimmed.firstIndex(of: UInt8(ascii: "=")) else { return false }
                let key = trimmed[..<equals]
                let value = trimmed[trimmed.index(after: equals)...]
                guard let first = key.first, key.count <= 256, value.count <= 256, !value.isEmpty,
                    (first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")) || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")),
                    key.allSatisfy({ b in
                        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                            || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: "*") || b == UInt8(ascii: "/")
                            || b == UInt8(ascii: "@")
                    }),
                    value.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") })
                else { return false }
            }
            return true
        }
    }

    struct Extract: Extractor {
        func extract(key: String, from carrier: Carrier) -> String? {
            switch key {
            case "traceparent": carrier.parent
            case "tracestate": carrier.state
            default: nil
            }
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
