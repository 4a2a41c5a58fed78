/// Finds the top-level `"usage"` object of a JSON document fed to it in pieces, as the bytes
/// pass through the gateway, without buffering the document; and the first top-level
/// `"model"` string (the model the backend says answered, for traces).
///
/// A small byte state machine (depth, in-string, escape, key matching). Only the bytes of the
/// `usage` value are kept (capped at `captureLimit`), then parsed by ``Usage/parse(_:)``. The
/// document is not validated here: it belongs to the backend and is forwarded unchanged.
public struct UsageScanner: Sendable {
    public static let captureLimit = 4096
    /// `"`, `{`, `}`, `[`, `]`: the bytes that change the scanner's state inside nested values.
    private static let structural: [Bool] = (0..<256).map { byte in
        [UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]")].contains(UInt8(byte))
    }
    private static let usageKey: [UInt8] = Array("usage".utf8)
    /// Same length as `usageKey`: one position counter serves both.
    private static let modelKey: [UInt8] = Array("model".utf8)
    /// A longer model string (or one with escapes) is not kept.
    public static let modelLimit = 256

    private var depth = 0
    private var inString = false
    private var escaped = false
    private var expectingKey = false
    private var trackingKey = false
    private var keyMatched = 0
    private var keyMismatch = false
    private var keyIsUsage = false
    private var pendingUsageValue = false
    private var capturing = false
    private var captured: [UInt8] = []
    private var modelMismatch = false
    private var keyIsModel = false
    private var pendingModelValue = false
    private var capturingModel = false

    /// The last complete `usage` object seen, if any.
    public private(set) var usage: Usage?
    /// The first top-level `model` string seen (kept across ``reset()``, as `usage` is).
    public private(set) var model: String?

    public init() {}

    /// Forgets everything (used between SSE events).
    public mutating func reset() {
        let usage = self.usage
        let model = self.model
        self = UsageScanner()
        self.usage = usage
        self.model = model
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        // State is copied into locals for the loop (the struct usually lives inside a class, and
        // property access through it would defeat register allocation), and written back at the end.
        var depth = self.depth
        var inString = self.inString
        var escaped = self.escaped
        var expectingKey = self.expectingKey
        var trackingKey = self.trackingKey
        var keyMatched = self.keyMatched
        var keyMismatch = self.keyMismatch
        var keyIsUsage = self.keyIsUsage
        var pendingUsageValue = self.pendingUsageValue
        var capturing = self.capturing
        var modelMismatch = self.modelMismatch
        var keyIsModel = self.keyIsModel
        var pendingModelValue = self.pendingModelValue
        var capturingModel = self.capturingModel
        defer {
            self.depth = depth
            self.inString = inString
            self.escaped = escaped
            self.expectingKey = expectingKey
            self.trackingKey = trackingKey
            self.keyMatched = keyMatched
            self.keyMismatch = keyMismatch
            self.keyIsUsage = keyIsUsage
            self.pendingUsageValue = pendingUsageValue
            self.capturing = capturing
            self.modelMismatch = modelMismatch
            self.keyIsModel = keyIsModel
            self.pendingModelValue = pendingModelValue
            self.capturingModel = capturingModel
        }
        var i = 0
        let count = bytes.count
        while i < count {
            if inString {
                // Fast path: run to the next quote or backslash when nothing needs the bytes.
                if !escaped && !trackingKey && !capturing && !capturingModel {
                    while i < count {
                        let b = bytes[i]
                        if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { break }
                        i += 1
                    }
                    if i == count { return }
                }
                let b = bytes[i]
                if capturing { capturing = self.capture(b) }
                if escaped {
                    escaped = false
                    keyMismatch = true
                    modelMismatch = true
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                    keyMismatch = true
                    modelMismatch = true
                    if capturingModel {
                        // An escaped model name is not one the gateway reports.
                        capturingModel = false
                        self.captured.removeAll(keepingCapacity: true)
                    }
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                    if trackingKey {
                        trackingKey = false
                        keyIsUsage = !keyMismatch && keyMatched == 5
                        keyIsModel = !modelMismatch && keyMatched == 5
                    }
                    if capturingModel {
                        capturingModel = false
                        self.model = String(decoding: self.captured, as: UTF8.self)
                        self.captured.removeAll(keepingCapacity: true)
                    }
                } else if trackingKey {
                    if keyMatched < 5 {
                        if Self.usageKey[keyMatched] != b { keyMismatch = true }
                        if Self.modelKey[keyMatched] != b { modelMismatch = true }
                        keyMatched += 1
                    } else {
                        keyMismatch = true
                        modelMismatch = true
                    }
                } else if capturingModel {
                    if self.captured.count < Self.modelLimit && b >= 0x20 {
                        self.captured.append(b)
                    } else {
                        capturingModel = false
                        self.captured.removeAll(keepingCapacity: true)
                    }
                }
                i += 1
                continue
            }
            if depth >= 2 && !capturing {
                // Inside a nested value nothing but strings and brackets matters: run to the next.
                while i < count && !Self.structural[Int(bytes[i])] { i += 1 }
                if i == count { return }
            }
            let byte = bytes[i]
            if capturing { capturing = self.capture(byte) }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                if depth == 1 && expectingKey {
                    expectingKey = false
                    trackingKey = true
                    keyMatched = 0
                    keyMismatch = false
                    modelMismatch = false
                } else if depth == 1 && pendingModelValue && !capturing {
                    capturingModel = true
                    self.captured.removeAll(keepingCapacity: true)
                }
                pendingModelValue = false
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 1 && pendingUsageValue && byte == UInt8(ascii: "{") {
                    capturing = true
                    self.captured.removeAll(keepingCapacity: true)
                    self.captured.append(byte)
                }
                pendingUsageValue = false
                pendingModelValue = false
                depth += 1
                if depth == 1 && byte == UInt8(ascii: "{") { expectingKey = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if capturing && depth == 1 {
                    capturing = false
                    if let usage = self.captured.withUnsafeBytes({ Usage.parse($0) }) {
                        self.usage = usage
                    }
                }
            case UInt8(ascii: ":"):
                if depth == 1 {
                    pendingUsageValue = keyIsUsage
                    pendingModelValue = keyIsModel && self.model == nil
                    keyIsUsage = false
                    keyIsModel = false
                }
            case UInt8(ascii: ","):
                if depth == 1 {
                    expectingKey = true
                    pendingUsageValue = false
                    pendingModelValue = false
                }
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                if depth == 1 {
                    pendingUsageValue = false
                    pendingModelValue = false
                }
            }
            i += 1
        }
    }

    /// Appends a captured byte; returns false when the capture grew too large (not a usage
    /// object we trust) and stops.
    @inline(__always)
    private mutating func capture(_ byte: UInt8) -> Bool {
        guard self.captured.count < Self.captureLimit else { return false }
        self.captured.append(byte)
        return true
    }
}
