/// Follows a `text/event-stream` as it passes through: knows where events end (so the gateway
/// may insert a keep-alive comment without splitting an event) and feeds each event's `data`
/// into a ``UsageScanner`` so the final usage chunk is found without parsing every chunk as a
/// whole JSON document. Bytes are never copied or buffered; only line/field state is kept.
public struct SSEScanner: Sendable {
    private enum LineState: Sendable {
        case lineStart
        /// Matching the field name `data:`; the count of bytes matched so far.
        case fieldName(Int)
        case afterDataColon
        case data
        case otherLine
    }

    private static let dataField: [UInt8] = Array("data:".utf8)

    private var line: LineState = .lineStart
    private var lastWasCR = false
    private var eventHasData = false
    private var usageScanner = UsageScanner()

    /// True when every byte seen so far belongs to complete events (or nothing was seen yet).
    public private(set) var atEventBoundary = true
    /// Number of events dispatched (events with at least one data line).
    public private(set) var eventCount = 0

    public var usage: Usage? { self.usageScanner.usage }
    /// The first event's top-level `model` (see ``UsageScanner/model``).
    public var model: String? { self.usageScanner.model }

    public init() {}

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            if byte == 0x0A && self.lastWasCR {
                self.lastWasCR = false
                i += 1
                continue
            }
            self.lastWasCR = false
            if byte == 0x0A || byte == 0x0D {
                self.lastWasCR = byte == 0x0D
                self.endOfLine()
                i += 1
                continue
            }
            self.atEventBoundary = false
            switch self.line {
            case .lineStart:
                self.line = byte == Self.dataField[0] ? .fieldName(1) : .otherLine
                i += 1
            case .fieldName(let matched):
                if byte == Self.dataField[matched] {
                    self.line = matched + 1 == Self.dataField.count ? .afterDataColon : .fieldName(matched + 1)
                } else {
                    self.line = .otherLine
                }
                i += 1
            case .afterDataColon:
                self.line = .data
                self.eventHasData = true
                if byte == 0x20 { i += 1 }
            case .data:
                var j = i
                while j < count && bytes[j] != 0x0A && bytes[j] != 0x0D { j += 1 }
                self.usageScanner.feed(UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                i = j
            case .otherLine:
                while i < count && bytes[i] != 0x0A && bytes[i] != 0x0D { i += 1 }
            }
        }
    }

    /// Feeds `bytes` up to the end of the event in progress. Returns how many bytes that took
    /// (0 when already at a boundary), or nil when the event does not end within `bytes` (all
    /// of them were fed). A gateway that ends a stream itself finishes the client's event first.
    public mutating func feedToBoundary(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !self.atEventBoundary else { return 0 }
        for i in 0..<bytes.count {
            self.feed(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + 1)]))
            if self.atEventBoundary { return i + 1 }
        }
        return nil
    }

    private mutating func endOfLine() {
        switch self.line {
        case .lineStart:
            // Blank line: dispatch the event.
            if self.eventHasData {
                self.eventCount += 1
                self.eventHasData = false
            }
            self.usageScanner.reset()
            self.atEventBoundary = true
        case .data, .afterDataColon:
            self.eventHasData = true
            // Data lines of one event join with a newline.
            withUnsafeBytes(of: UInt8(0x0A)) { self.usageScanner.feed($0) }
        case .fieldName, .otherLine:
            break
        }
        self.line = .lineStart
    }
}
