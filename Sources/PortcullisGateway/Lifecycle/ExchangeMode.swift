/// Whose request an exchange is: one the gateway proxies, or one an Envoy asks about over
/// ext_authz (`Check`, answered and never forwarded by the gateway). A metric label (`mode`)
/// and an access-log field.
public enum ExchangeMode: String, Sendable {
    case proxy
    case authz
}
