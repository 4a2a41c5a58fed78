import Crypto
import PortcullisCore

/// Verified tokens of one event loop, keyed by a SHA-256 of the token (the token itself is not
/// kept). An entry expires no later than its token, and only counts while the provider's key
/// set is the one that verified it (a rotation or removal invalidates it). Bounded; the oldest
/// entry goes first. One per loop, so no lock.
final class TokenCache {
    struct Key: Hashable {
        let a: UInt64
        let b: UInt64

        init(token: Substring) {
            var token = token
            let digest = token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
            (self.a, self.b) = digest.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
    }

    struct Entry {
        let identity: Identity
        let expiresAt: Double
        let provider: String
        let keyVersion: UInt64
    }

    /// Entries live at most this long even when the token lives longer.
    static let maximumAge = 600.0

    private var entries: [Key: Entry] = [:]
    private var order: [Key] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: Key, now: Double, version: (String) -> UInt64?) -> Entry? {
        guard let entry = self.entries[key] else { return nil }
        guard now < entry.expiresAt, version(entry.provider) == entry.keyVersion else {
            self.entries[key] = nil
            return nil
        }
        return entry
    }

    func insert(_ key: Key, _ entry: Entry) {
        guard self.capacity > 0 else { return }
        if self.entries.updateValue(entry, forKey: key) != nil { return }
        if self.order.count < self.capacity {
            self.order.append(key)
        } else {
            self.entries[self.order[self.head]] = nil
            self.order[self.head] = key
            self.head = (self.head + 1) % self.capacity
        }
    }

    var count: Int { self.entries.count }
}
