/// Choosing an endpoint of a backend, as pure functions of what may take traffic, the load on
/// each endpoint and a random draw, so the choice is tested without a loop or a socket.
enum EndpointPicker {
    /// The first endpoint from `start` on (wrapping) that may take traffic; nil: none may.
    @inline(__always)
    static func scan(from start: Int, count: Int, isAvailable: (Int) -> Bool) -> Int? {
        for offset in 0..<count {
            let index = (start &+ offset) % count
            if isAvailable(index) { return index }
        }
        return nil
    }

    /// The power of two choices: two distinct endpoints drawn from `roll`, and of those that
    /// may take traffic the one with fewer requests in flight (the first drawn on a tie).
    /// Neither may: the first that may, scanning on from the first drawn.
    @inline(__always)
    static func leastRequest(count: Int, roll: UInt64, isAvailable: (Int) -> Bool, load: (Int) -> Int) -> Int? {
        precondition(count >= 2)
        let first = Int((roll & 0xFFFF_FFFF) % UInt64(count))
        var second = Int((roll >> 32) % UInt64(count - 1))
        if second >= first { second += 1 }
        switch (isAvailable(first), isAvailable(second)) {
        case (true, true): return load(second) < load(first) ? second : first
        case (true, false): return first
        case (false, true): return second
        case (false, false): return self.scan(from: first, count: count, isAvailable: isAvailable)
        }
    }
}
