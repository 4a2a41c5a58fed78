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

    /// The power of two choices: two distinct endpoints drawn from `roll` among those that may
    /// take traffic, and of the two the one with fewer requests in flight (the first drawn on a
    /// tie). One may: that one. None: nil. (Drawing among all endpoints and falling back to a
    /// scan would hand the endpoint after a run of ejected ones more than its share.)
    @inline(__always)
    static func leastRequest(count: Int, roll: UInt64, isAvailable: (Int) -> Bool, load: (Int) -> Int) -> Int? {
        // Availability is read once per endpoint: health and ejections change on other loops.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { available -> Int? in
            var n = 0
            for index in 0..<count where isAvailable(index) {
                available[n] = index
                n += 1
            }
            guard n >= 2 else { return n == 1 ? available[0] : nil }
            let a = Int((roll & 0xFFFF_FFFF) % UInt64(n))
            var b = Int((roll >> 32) % UInt64(n - 1))
            if b >= a { b += 1 }
            let first = available[a]
            let second = available[b]
            return load(second) < load(first) ? second : first
        }
    }
}
