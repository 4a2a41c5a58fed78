/// One counter: a rule (its number in the store's table of rule keys, see
/// ``MemoryLimitStore/ruleID(_:)``) and whom it counts (a tenant, a user, a credential, or `""`
/// for everyone). The subject is a string the config or the identity already holds, so
/// building a key allocates nothing for tenant, credential and global scopes, and hashing it
/// reads one short string and one integer.
struct LimitKey: Hashable, Sendable {
    let rule: Int
    let subject: String

    /// Which of the store's shards holds the key: a cheap mix of the rule and the subject's
    /// first and last 8 bytes and length (the shard's dictionary hashes the key properly; this
    /// only has to spread keys over shards, also names that share a prefix, `tenant-17` and
    /// `tenant-18`, or a tenant's users, `acme\u{1F}alice` and `acme\u{1F}bob`).
    @inline(__always)
    var shard: UInt {
        var mix = UInt(bitPattern: self.rule) &* 0x9E37_79B9_7F4A_7C15
        var subject = self.subject
        let count = subject.utf8.count
        subject.withUTF8 { bytes in
            for i in 0..<min(count, 8) { mix = (mix ^ UInt(bytes[i])) &* 0x100_0000_01B3 }
            for i in max(8, count - 8)..<max(8, count) { mix = (mix ^ UInt(bytes[i])) &* 0x100_0000_01B3 }
        }
        return (mix ^ UInt(count)) ^ (mix >> 29)
    }
}
