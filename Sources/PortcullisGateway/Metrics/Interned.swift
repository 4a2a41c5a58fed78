/// Values numbered in order of first sight.
struct Interned<Value: Hashable & Sendable>: Sendable {
    private var ids: [Value: Int] = [:]
    private(set) var values: [Value] = []

    mutating func id(_ value: Value) -> Int {
        if let id = self.ids[value] { return id }
        let id = self.values.count
        self.ids[value] = id
        self.values.append(value)
        return id
    }
}
