/// A refetch for an unknown `kid` that ended without a usable key set: the requests waiting on
/// it fail their wait (503 `auth_unavailable`), since the issuer could not be asked.
struct JWKSRefetchFailed: Error {
    let provider: String
}
