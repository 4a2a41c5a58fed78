/// The limiter's Lua scripts. Each runs atomically in Redis, on Redis's own clock (`TIME`), so
/// every replica counts against the same time and no replica's clock skew matters. Times are
/// microseconds (a Lua number holds them exactly); a GCRA's theoretical arrival time is one
/// string key, a concurrency limit a sorted set of leases scored by their expiry.
///
/// The arithmetic is ``GCRA`` (PortcullisCore) transcribed: the same decisions as the
/// in-memory store, so a limit means the same in both.
public enum RedisLimitScripts {
    /// Script numbers in ``all`` (the order the client loads them in).
    public static let take = 0
    public static let finish = 1
    public static let renew = 2

    public static let all = [takeSource, finishSource, renewSource]

    /// Every limit of one request in one call, all or nothing.
    ///
    /// `ARGV[1]` is the count n; then five arguments per limit (`KEYS[i]`): `g`, enforced
    /// (`1`/`0`), interval µs, tolerance µs, cost; or `c`, enforced, max, lease TTL µs, lease
    /// member. Limits are checked in order; the first enforced one that does not fit stops the
    /// check and nothing at all is written. A shadow limit that does not fit is skipped. Returns
    /// `{refused, then per limit: allowed (1, 0, or -1 not reached), remaining, reset µs,
    /// retry µs (-1: never fits)}`, where refused is the 1-based index of the refusing limit or 0.
    static let takeSource = """
        local t = redis.call('TIME')
        local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
        local n = tonumber(ARGV[1])
        local out = {0}
        local writes = {}
        for i = 1, n do
          local a = 2 + (i - 1) * 5
          local enforced = ARGV[a + 1] == '1'
          local allowed, remaining, reset, retry = 0, 0, 0, 0
          if ARGV[a] == 'g' then
            local interval, tolerance, cost = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
            local tat = tonumber(redis.call('GET', KEYS[i])) or now
            local base = math.max(tat, now)
            local proposed = base + cost * interval
            local ahead = proposed - now
            if ahead <= tolerance + 0.5 then
              allowed, reset = 1, ahead
              remaining = math.floor((tolerance - ahead + 0.5) / interval)
              writes[#writes + 1] = {'g', i, proposed, ahead}
            else
              reset = base - now
              remaining = math.floor((tolerance - reset + 0.5) / interval)
              if cost * interval > tolerance then retry = -1 else retry = ahead - tolerance end
            end
            if remaining < 0 then remaining = 0 end
          else
            local max, ttl = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
            redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
            local used = redis.call('ZCARD', KEYS[i])
            if used < max then
              allowed, remaining = 1, max - used - 1
              writes[#writes + 1] = {'c', i, now + ttl, ttl, ARGV[a + 4]}
            else
              retry = 1000000
            end
          end
          out[#out + 1] = allowed
          out[#out + 1] = remaining
          out[#out + 1] = reset
          out[#out + 1] = retry
          if allowed == 0 and enforced then
            out[1] = i
            for j = i + 1, n do
              out[#out + 1] = -1
              out[#out + 1] = 0
              out[#out + 1] = 0
              out[#out + 1] = 0
            end
            return out
          end
        end
        for _, w in ipairs(writes) do
          if w[1] == 'g' then
            redis.call('SET', KEYS[w[2]], string.format('%.17g', w[3]), 'PX', math.ceil(w[4] / 1000) + 1000)
          else
            redis.call('ZADD', KEYS[w[2]], string.format('%.17g', w[3]), w[5])
            redis.call('PEXPIRE', KEYS[w[2]], math.ceil(w[4] / 1000) + 1000)
          end
        end
        return out
        """

    /// Settles a finished request: per key, four arguments: `g`, interval µs, units to hand
    /// back (negative: charge more), tolerance µs; or `c`, the lease member, and two blanks
    /// (the lease is released). A credit never moves a TAT before now; a charge never sets it
    /// more than one window ahead (``GCRA/adjust(tat:now:units:)``).
    static let finishSource = """
        local t = redis.call('TIME')
        local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
        for i = 1, #KEYS do
          local a = (i - 1) * 4 + 1
          if ARGV[a] == 'g' then
            local interval, units, tolerance = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
            local tat = tonumber(redis.call('GET', KEYS[i])) or now
            local delta = units * interval
            local moved = tat - delta
            local new
            if delta >= 0 then new = math.max(moved, math.min(tat, now)) else new = math.min(moved, math.max(tat, now) + tolerance) end
            if new <= now then
              redis.call('DEL', KEYS[i])
            else
              redis.call('SET', KEYS[i], string.format('%.17g', new), 'PX', math.ceil((new - now) / 1000) + 1000)
            end
          else
            redis.call('ZREM', KEYS[i], ARGV[a + 1])
          end
        end
        return #KEYS
        """

    /// Extends the leases a live replica holds: `ARGV[1]` the TTL µs, then one member per key.
    /// A lease that is gone (Redis restarted empty, was flushed, or reaped a late renewal) is
    /// added again: the stream holding it is still open.
    static let renewSource = """
        local t = redis.call('TIME')
        local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
        local ttl = tonumber(ARGV[1])
        local renewed = 0
        for i = 1, #KEYS do
          renewed = renewed + redis.call('ZADD', KEYS[i], 'CH', string.format('%.17g', now + ttl), ARGV[i + 1])
          redis.call('PEXPIRE', KEYS[i], math.ceil(ttl / 1000) + 1000)
        end
        return renewed
        """

    /// One limit's answer from ``take``.
    public struct Verdict: Sendable, Equatable {
        /// nil: not reached (an earlier enforced limit refused).
        public let allowed: Bool?
        public let remaining: Int
        public let resetNanos: Int64
        /// `Int64.max`: the cost never fits.
        public let retryAfterNanos: Int64
    }

    /// Reads ``take``'s answer for `count` limits (nil: not the shape the script returns).
    public static func verdicts(_ value: RESPValue, count: Int) -> (refused: Int, verdicts: [Verdict])? {
        guard case .array(let items?) = value, items.count == 1 + 4 * count, let refused = items[0].int else { return nil }
        var verdicts: [Verdict] = []
        verdicts.reserveCapacity(count)
        for i in 0..<count {
            guard let allowed = items[1 + 4 * i].int, let remaining = items[2 + 4 * i].int, let reset = items[3 + 4 * i].int,
                let retry = items[4 + 4 * i].int
            else { return nil }
            verdicts.append(
                Verdict(
                    allowed: allowed < 0 ? nil : allowed == 1, remaining: Int(clamping: max(remaining, 0)),
                    resetNanos: Self.nanos(reset), retryAfterNanos: retry < 0 ? .max : Self.nanos(retry)))
        }
        return (Int(refused), verdicts)
    }

    private static func nanos(_ micros: Int64) -> Int64 {
        let (value, overflow) = max(micros, 0).multipliedReportingOverflow(by: 1000)
        return overflow ? .max : value
    }
}
