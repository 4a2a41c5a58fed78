import NIOHTTP1

extension Exchange {
    /// What a ``CheckLeases`` lease keeps of an allowed check, for the minutes it may be held:
    /// the facts a ``LimitTicket`` settles on (identity, the prompt estimate, the forwarding
    /// mark, the metrics series, and the usage a report brings), without the client's headers (its credential
    /// among them) or body, so a full lease table stays small.
    func leaseCopy() -> Exchange {
        let copy = Exchange(
            snapshot: self.snapshot, head: HTTPRequestHead(version: self.head.version, method: self.head.method, uri: "/"),
            target: self.target, endpoint: self.endpoint, requestID: self.requestID, receivedAt: self.receivedAt,
            connection: self.connection, loop: self.loop, route: self.route)
        copy.identity = self.identity
        copy.plan = self.plan
        copy.tenantIndex = self.tenantIndex  // the metrics series a reported usage is counted in
        copy.modelIndex = self.modelIndex
        copy.request = self.request
        copy.estimatedPromptTokens = self.estimatedPromptTokens
        copy.forwardedAt = self.forwardedAt
        copy.usage = self.usage
        copy.upstreamStatus = self.upstreamStatus
        copy.generatedTokens = self.generatedTokens
        return copy
    }
}
