/// When each cluster's risk set may next change with no new event (an elapsed-time threshold,
/// or an event dated later starting to count): a binary min-heap by time over canonical ids,
/// with the latest time set per id; an entry whose time is no longer the id's is skipped when
/// it surfaces.
struct SignalSchedule: Sendable {
    private struct Entry: Sendable {
        var time: Int64
        var id: String
    }

    private var heap: [Entry] = []
    private var due: [String: Int64] = [:]

    /// The number of clusters with a next change.
    var count: Int { due.count }

    /// The earliest next change, if any (may be an entry that was replaced since: a wake-up at
    /// that time then finds nothing due and costs one check).
    var earliest: Int64? { heap.first?.time }

    /// Sets (or with nil clears) the next change of cluster `id`.
    mutating func set(_ id: String, _ time: Int64?) {
        guard let time else {
            due[id] = nil
            return
        }
        // One hash of the id: the old time comes back from the update.
        if due.updateValue(time, forKey: id) == time { return }
        heap.append(Entry(time: time, id: id))
        siftUp(heap.count - 1)
        // Stale entries are dropped as they surface; rebuild when they dominate.
        if heap.count > 2 * due.count + 1024 { compact() }
    }

    /// Removes and answers the clusters whose next change is at or before `now`, each with
    /// that time, earliest first.
    mutating func takeDue(_ now: Int64) -> [(id: String, time: Int64)] {
        var out: [(String, Int64)] = []
        while let top = heap.first, top.time <= now {
            pop()
            if due[top.id] == top.time {
                due[top.id] = nil
                out.append((top.id, top.time))
            }
        }
        return out
    }

    private mutating func compact() {
        heap = due.map { Entry(time: $0.value, id: $0.key) }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private mutating func pop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftUp(_ i: Int) {
        var i = i
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].time < heap[parent].time else { return }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ i: Int) {
        var i = i
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, heap[l].time < heap[m].time { m = l }
            if r < heap.count, heap[r].time < heap[m].time { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
}
