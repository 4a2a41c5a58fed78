/// Finds the top-level `"usage"` object of a JSON document fed to it in pieces, as the bytes
/// pass through the gateway, without buffering the document.
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

    /// The last complete `usage` object seen, if any.
    public private(set) var usage: Usage?

    public init() {}

    /// Forgets everything (used between SSE events).
    public mutating func reset() {
        let usage = self.usage
        self = UsageScanner()
        self.usage = usage
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
        }
        var i = 0
        let count = bytes.count
        while i < count {
            if inString {
                // Fast path: run to the next quote or backslash when nothing needs the bytes.
                if !escaped && !trackingKey && !capturing {
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
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                    keyMismatch = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                    if trackingKey {
                        trackingKey = false
                        keyIsUsage = !keyMismatch && keyMatched == 5
                    }
                } else if trackingKey {
                    if keyMatched < 5 && Self.usageKey[keyMatched] == b {
                        keyMatched += 1
                    } else {
                        keyMismatch = true
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
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 1 && pendingUsageValue && byte == UInt8(ascii: "{") {
                    capturing = true
                    self.captured.removeAll(keepingCapacity: true)
                    self.captured.append(byte)
                }
                pendingUsageValue = false
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
                    keyIsUsage = false
                }
            case UInt8(ascii: ","):
                if depth == 1 {
                    expectingKey = true
                    pendingUsageValue = false
                }
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                if depth == 1 { pendingUsageValue = false }
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
