/// One counter: a rule (its number in the store's table of rule keys, see
/// ``MemoryLimitStore/ruleID(_:)``) and whom it counts (a tenant, a user, a credential, or `""`
/// for everyone). The subject is a string the config or the identity already holds, so
/// building a key allocates nothing for tenant, credential and global scopes, and hashing it
/// reads one short string and one integer.
struct LimitKey: Hashable, Sendable {
    let rule: Int
    let subject: String

    /// Which of the store's shards holds the key: a cheap mix of the rule and the subject's
    /// first bytes and length (the shard's dictionary hashes the key properly; this only has to
    /// spread tenants over shards).
    @inline(__always)
    var shard: UInt {
        var mix = UInt(bitPattern: self.rule) &* 0x9E37_79B9_7F4A_7C15
        var taken = 0
        for byte in self.subject.utf8 {
            mix = (mix ^ UInt(byte)) &* 0x100_0000_01B3
            taken += 1
            if taken == 8 { break }
        }
        return (mix ^ UInt(self.subject.utf8.count)) ^ (mix >> 29)
    }
}
