import Synchronization

/// The bytes queued for every client of a server together (answers and subscription lines not
/// yet written to their sockets), against one bound: many slow clients cannot add up to more
/// memory than this, whatever each one's own cap.
final class OutputBudget: Sendable {
    /// The bound, in bytes.
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes queued now.
    var inUse: Int { used.load(ordering: .relaxed) }

    /// Bytes that may still be queued.
    var room: Int { max(0, limit - inUse) }

    /// Bytes every connection may queue whatever the budget's state (its guaranteed share), so
    /// that a client that reads gets its answers while stalled ones hold the budget: the most
    /// the budget is passed by is this much per connection.
    static let share = 16 << 10

    /// Takes `bytes` from the budget; false (and nothing taken) when that would pass the bound,
    /// unless `force` (within a connection's guaranteed `share`).
    func reserve(_ bytes: Int, force: Bool = false) -> Bool {
        let after = used.add(bytes, ordering: .relaxed).newValue
        if after <= limit || force { return true }
        used.subtract(bytes, ordering: .relaxed)
        return false
    }

    /// Gives back `bytes` written or dropped.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }
}
