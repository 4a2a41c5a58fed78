/// A capability a request uses that a plan may allow or refuse (`plans.NAME.features`), read
/// from the body before anything is routed or forwarded. A refused one is 403
/// `feature_not_allowed`, naming it. A closed set: the config names them by `rawValue`.
///
/// | feature | the request uses it when |
/// |---|---|
/// | `streaming` | `stream` is `true` |
/// | `tools` | `tools`, `functions`, `tool_choice` or `function_call` is set (not null) |
/// | `images` | a message content part is `image_url` |
/// | `audio` | a content part is `input_audio`, or `audio` is set, or `modalities` names `audio` |
/// | `images` | (also `input_image`, `image_embeds`, `image_pil` parts: vLLM's) |
/// | `audio` | (also `audio_url`, `audio_embeds` parts) |
/// | `files` | a content part is `file` or `input_file` |
/// | `video` | a content part is `video_url` |
/// | `other_content` | a content part of any other type than `text` and `refusal` (one the gateway cannot classify; a plan that lists features refuses it unless it lists this) |
/// | `json_schema` | `response_format.type` is `json_schema`, or vLLM's `guided_json`, `guided_regex`, `guided_grammar`, `guided_choice` or `structured_outputs` is set |
/// | `json_mode` | `response_format.type` is `json_object` |
/// | `logprobs` | `logprobs` is `true` or a number, or `top_logprobs` or `prompt_logprobs` is set |
/// | `multiple_choices` | `n` or `best_of` is above 1 (or not a number: a server may coerce `"4"`) |
/// | `web_search` | `web_search_options` is set |
/// | `embeddings` | the endpoint is `/v1/embeddings` |
public enum RequestFeature: String, Sendable, CaseIterable {
    case streaming
    case tools
    case images
    case audio
    case files
    case video
    case jsonSchema = "json_schema"
    case jsonMode = "json_mode"
    case logprobs
    case multipleChoices = "multiple_choices"
    case webSearch = "web_search"
    case embeddings
    case otherContent = "other_content"

    /// The feature's bit in a ``RequestFeature/Set``.
    /// (A payload-free enum is stored as its case's position; `RequestFeatureTests` checks the
    /// bits against `allCases`.)
    @inline(__always)
    public var bit: UInt16 { 1 << UInt16(withUnsafeBytes(of: self) { $0[0] }) }

    /// A set of features as bits (no allocation on the request path).
    public struct Set: Sendable, Equatable {
        public var bits: UInt16

        public init(_ bits: UInt16 = 0) { self.bits = bits }

        public init(_ features: [RequestFeature]) {
            self.bits = features.reduce(0) { $0 | $1.bit }
        }

        public static let all = Set(RequestFeature.allCases)

        public mutating func insert(_ feature: RequestFeature) { self.bits |= feature.bit }

        public func contains(_ feature: RequestFeature) -> Bool { self.bits & feature.bit != 0 }

        /// The first feature (in ``RequestFeature/allCases`` order) in `self` but not in `allowed`.
        public func firstOutside(_ allowed: Set) -> RequestFeature? {
            let outside = self.bits & ~allowed.bits
            guard outside != 0 else { return nil }
            return RequestFeature.allCases.first { outside & $0.bit != 0 }
        }

        public var features: [RequestFeature] { RequestFeature.allCases.filter(self.contains) }
    }
}
