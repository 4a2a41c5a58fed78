/// The gateway's estimate of a request's prompt tokens, made before anything is forwarded
/// (for `limits.maxPromptTokens` and for token reservations, which are settled to the
/// backend's reported usage afterwards).
///
/// Deliberately conservative, and computed without a tokenizer (one rule for every model):
/// one token per 3 bytes of the request body, JSON punctuation and keys included, except that
/// each image, audio, file or video content part counts as ``tokensPerMediaPart`` instead of
/// its bytes (a part of a type the gateway does not know is counted by its bytes). English text averages about 4 bytes a token,
/// so the estimate runs high for prose; UTF-8 CJK text is 3 bytes a character, about a token
/// each. Long audio and video can cost more than the fixed allowance: their usage is charged
/// when the request settles.
public enum PromptEstimate {
    public static let bytesPerToken = 3
    public static let tokensPerMediaPart = 2048

    public static func tokens(bodyBytes: Int, request: InferenceRequest?) -> Int {
        let media = request?.mediaParts ?? 0
        let textBytes = max(bodyBytes - (request?.mediaBytes ?? 0), 0)
        return (textBytes + Self.bytesPerToken - 1) / Self.bytesPerToken + media * Self.tokensPerMediaPart
    }
}
