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
        var available = 0
        var only = -1
        for index in 0..<count where isAvailable(index) {
            available += 1
            only = index
        }
        guard available >= 2 else { return available == 1 ? only : nil }
        let a = Int((roll & 0xFFFF_FFFF) % UInt64(available))
        var b = Int((roll >> 32) % UInt64(available - 1))
        if b >= a { b += 1 }
        var first = -1
        var second = -1
        var seen = 0
        for index in 0..<count where isAvailable(index) {
            if seen == a { first = index }
            if seen == b { second = index }
            seen += 1
        }
        return load(second) < load(first) ? second : first
    }
}
