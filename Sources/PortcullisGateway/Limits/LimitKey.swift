/// One counter: a rule's key (``LimitRule/key``) and whom it counts (a tenant, a user, a
/// credential, or `""` for everyone). Both strings are ones the config or the identity already
/// holds, so building a key allocates nothing for tenant, credential and global scopes.
struct LimitKey: Hashable, Sendable {
    let rule: String
    let subject: String
}
