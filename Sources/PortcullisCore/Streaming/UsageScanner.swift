/// Finds the top-level `"usage"` object of a JSON document fed to it in pieces, as the bytes
/// pass through the gateway, without buffering the document.
///
/// A small byte state machine (depth, in-string, escape, key matching). Only the bytes of the
/// `usage` value are kept (capped at `captureLimit`), then parsed by ``Usage/parse(_:)``. The
/// document is not validated here: it belongs to the backend and is forwarded unchanged.
public struct UsageScanner: Sendable {
    public static let captureLimit = 4096
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
        var i = 0
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            if self.inString {
                // Fast path: run to the next quote or backslash when nothing needs the bytes.
                if !self.escaped && !self.trackingKey && !self.capturing {
                    while i < count {
                        let b = bytes[i]
                        if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { break }
                        i += 1
                    }
                    if i == count { return }
                }
                let b = bytes[i]
                if self.capturing { self.capture(b) }
                if self.escaped {
                    self.escaped = false
                    self.keyMismatch = true
                } else if b == UInt8(ascii: "\\") {
                    self.escaped = true
                    self.keyMismatch = true
                } else if b == UInt8(ascii: "\"") {
                    self.inString = false
                    if self.trackingKey {
                        self.trackingKey = false
                        self.keyIsUsage = !self.keyMismatch && self.keyMatched == Self.usageKey.count
                    }
                } else if self.trackingKey {
                    if self.keyMatched < Self.usageKey.count && Self.usageKey[self.keyMatched] == b {
                        self.keyMatched += 1
                    } else {
                        self.keyMismatch = true
                    }
                }
                i += 1
                continue
            }
            if self.capturing { self.capture(byte) }
            switch byte {
            case UInt8(ascii: "\""):
                self.inString = true
                if self.depth == 1 && self.expectingKey {
                    self.expectingKey = false
                    self.trackingKey = true
                    self.keyMatched = 0
                    self.keyMismatch = false
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if self.depth == 1 && self.pendingUsageValue && byte == UInt8(ascii: "{") {
                    self.capturing = true
                    self.captured.removeAll(keepingCapacity: true)
                    self.captured.append(byte)
                }
                self.pendingUsageValue = false
                self.depth += 1
                if self.depth == 1 && byte == UInt8(ascii: "{") { self.expectingKey = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                self.depth -= 1
                if self.capturing && self.depth == 1 {
                    self.capturing = false
                    if let usage = self.captured.withUnsafeBytes({ Usage.parse($0) }) {
                        self.usage = usage
                    }
                }
            case UInt8(ascii: ":"):
                if self.depth == 1 {
                    self.pendingUsageValue = self.keyIsUsage
                    self.keyIsUsage = false
                }
            case UInt8(ascii: ","):
                if self.depth == 1 {
                    self.expectingKey = true
                    self.pendingUsageValue = false
                }
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                if self.depth == 1 { self.pendingUsageValue = false }
            }
            i += 1
        }
    }

    @inline(__always)
    private mutating func capture(_ byte: UInt8) {
        if self.captured.count < Self.captureLimit {
            self.captured.append(byte)
        } else {
            self.capturing = false  // oversized: not a usage object we trust
        }
    }
}
