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

    /// Takes `bytes` from the budget; false (and nothing taken) when that would pass the bound,
    /// unless `force` (one line for a client with nothing queued, so that every client can
    /// always get a line: the overshoot is at most one line per connection).
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
