import NIOCore

/// The documented edits of a request body (the only changes between what was validated and
/// what is forwarded), each a new buffer from the offsets the inspection recorded.
extension InferenceRequest {
    /// Returns a copy of `body` with `"KEY":value` added as the object's first member (the
    /// plan's default token cap). `body` must be the one this request was read from.
    public func inserting(_ key: RequestKey, value: Int, in body: ByteBuffer) -> ByteBuffer {
        Self.inserting(key, value: value, in: body, objectStart: self.objectStart, objectIsEmpty: self.objectIsEmpty)
    }

    /// ``inserting(_:value:in:)`` from the two offsets it needs, so a caller holding the request
    /// in a class reads two integers instead of copying the whole request. One allocation, sized
    /// exactly, and one write of the three pieces: writing them one by one through `ByteBuffer`
    /// cost most of the token-cap stage (capacity checks, exclusivity checks, a rebase).
    public static func inserting(_ key: RequestKey, value: Int, in body: ByteBuffer, objectStart: Int, objectIsEmpty: Bool) -> ByteBuffer {
        // `"KEY":value,` — at most 1 + 28 (the longest key name) + 2 + 20 + 1 = 52 bytes; 64 of scratch.
        var scratch: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { member in
            var count = 0
            member[count] = UInt8(ascii: "\"")
            count += 1
            let name = key.name
            UnsafeMutableRawBufferPointer(rebasing: member[count...]).copyMemory(from: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            count += name.utf8CodeUnitCount
            member[count] = UInt8(ascii: "\"")
            member[count + 1] = UInt8(ascii: ":")
            count += 2
            var digits = value.magnitude
            var width = 1
            while digits >= 10 {
                digits /= 10
                width += 1
            }
            if value < 0 {
                member[count] = UInt8(ascii: "-")
                count += 1
            }
            digits = value.magnitude
            for position in stride(from: count + width - 1, through: count, by: -1) {
                member[position] = UInt8(ascii: "0") + UInt8(digits % 10)
                digits /= 10
            }
            count += width
            if !objectIsEmpty {
                member[count] = UInt8(ascii: ",")
                count += 1
            }
            let inserted = UnsafeRawBufferPointer(rebasing: member[..<count])
            return body.withUnsafeReadableBytes { bytes in
                let split = objectStart + 1
                var out = ByteBufferAllocator().buffer(capacity: bytes.count + count)
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count + count) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<split]))
                    UnsafeMutableRawBufferPointer(rebasing: target[split...]).copyMemory(from: inserted)
                    UnsafeMutableRawBufferPointer(rebasing: target[(split + count)...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[split...]))
                    return bytes.count + count
                }
                return out
            }
        }
    }

    /// Returns a copy of `body` that asks the backend for the stream's usage
    /// (`stream_options.include_usage: true`), keeping every other stream option: the member is
    /// added when absent, a `null` `stream_options` becomes `{"include_usage":true}`, a `false`
    /// or `null` `include_usage` becomes `true`, and an object without it gains it. `body` must
    /// be the one this request was read from (offsets), or differ from it only after
    /// ``objectStart`` when there is no `stream_options` (the token-cap insertion).
    public func requestingUsage(in body: ByteBuffer) -> ByteBuffer {
        func splice(_ range: Range<Int>, _ text: StaticString) -> ByteBuffer {
            var out = ByteBuffer()
            out.reserveCapacity(body.readableBytes + text.utf8CodeUnitCount)
            var prefix = body.getSlice(at: body.readerIndex, length: range.lowerBound)!
            out.writeBuffer(&prefix)
            out.writeStaticString(text)
            var suffix = body.getSlice(at: body.readerIndex + range.upperBound, length: body.readableBytes - range.upperBound)!
            out.writeBuffer(&suffix)
            return out
        }
        guard let options = self.streamOptions else {
            let at = self.objectStart + 1
            return splice(at..<at, self.objectIsEmpty ? #""stream_options":{"include_usage":true}"# : #""stream_options":{"include_usage":true},"#)
        }
        if options.kind == .null { return splice(options.range, #"{"include_usage":true}"#) }
        if let value = self.includeUsageValue { return splice(value, "true") }
        let open = options.range.lowerBound + 1
        let empty = body.getBytes(at: body.readerIndex + open, length: options.range.count - 2)?.allSatisfy {
            $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D
        } ?? false
        return splice(open..<open, empty ? #""include_usage":true"# : #""include_usage":true,"#)
    }

    /// Returns a copy of `body` with every `null` token cap (``nullTokenValues``) replaced by
    /// `value`. `body` must be the one this request was read from.
    public func fillingNullTokenCaps(with value: Int, in body: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + 16)
        var position = 0
        for range in self.nullTokenValues {
            var piece = body.getSlice(at: body.readerIndex + position, length: range.lowerBound - position)!
            out.writeBuffer(&piece)
            out.writeDecimal(value)
            position = range.upperBound
        }
        var rest = body.getSlice(at: body.readerIndex + position, length: body.readableBytes - position)!
        out.writeBuffer(&rest)
        return out
    }

    /// This request's offsets after ``rewritingModel(in:to:)`` wrote a model token of
    /// `newLength` bytes: what lies after the model moved by the difference (so a later edit
    /// needs no second scan of the body).
    public func afterModelRewrite(newLength: Int) -> InferenceRequest {
        let delta = newLength - self.modelTokenRange.count
        let modelEnd = self.modelTokenRange.upperBound
        var moved = self
        moved.modelTokenRange = self.modelTokenRange.lowerBound..<(self.modelTokenRange.lowerBound + newLength)
        moved.nullTokenValues = self.nullTokenValues.map { $0.lowerBound >= modelEnd ? ($0.lowerBound + delta)..<($0.upperBound + delta) : $0 }
        func shift(_ value: Value?) -> Value? {
            guard var value, value.range.lowerBound >= modelEnd else { return value }
            value.range = (value.range.lowerBound + delta)..<(value.range.upperBound + delta)
            return value
        }
        moved.messages = shift(self.messages)
        moved.prompt = shift(self.prompt)
        moved.input = shift(self.input)
        moved.members = self.members?.map { member in
            var member = member
            if member.valueRange == self.modelTokenRange {
                member.valueRange = moved.modelTokenRange
            } else if member.keyRange.lowerBound >= modelEnd {
                member.keyRange = (member.keyRange.lowerBound + delta)..<(member.keyRange.upperBound + delta)
                member.valueRange = (member.valueRange.lowerBound + delta)..<(member.valueRange.upperBound + delta)
            }
            return member
        }
        return moved
    }

    /// Returns a copy of `body` whose model value is replaced by `model` (JSON-escaped).
    public func rewritingModel(in body: ByteBuffer, to model: String) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + model.utf8.count + 8)
        var prefix = body.getSlice(at: body.readerIndex, length: self.modelTokenRange.lowerBound)!
        out.writeBuffer(&prefix)
        JSONString.writeQuoted(model, into: &out)
        var suffix = body.getSlice(
            at: body.readerIndex + self.modelTokenRange.upperBound,
            length: body.readableBytes - self.modelTokenRange.upperBound)!
        out.writeBuffer(&suffix)
        return out
    }
}
