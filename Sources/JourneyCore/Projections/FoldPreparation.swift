/// The string tables of a projector, moved out of it (`Projector.beginPreparation`) so that one
/// thread interns the strings of the events another thread folds.
package struct FoldPreparation: Sendable {
    var ids: Interner
    var values: Interner
    /// Ids of short values, memoized (most values are few and short).
    var shortValues = ShortStringCache()

    /// Interns the strings of checked events, in the order they will be folded, starting the
    /// loads the subject's lookup will wait for a few events ahead (`Interner.prefetch`): its
    /// hash slot 8 events ahead, its entry 4 ahead, its bytes 2 ahead. Each subject is hashed
    /// once, when its slot is prefetched; the later stages and the lookup reuse the hash.
    package mutating func prepare(_ batch: [CheckedEventView]) -> [PreparedEventView] {
        var out: [PreparedEventView] = []
        out.reserveCapacity(batch.count)
        batch.withUnsafeBufferPointer { events in
            // The subject hashes of the events from i to i + 8, by event index modulo 16.
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 16) { ring in
                let n = events.count
                @inline(__always) func hashAhead(_ k: Int) {
                    let h = events[k].view.withField(.subject) { Interner.hash($0!) }
                    ring[k & 15] = h
                    ids.prefetch(hash: h, .slot)
                }
                for k in 0..<Swift.min(8, n) { hashAhead(k) }
                for i in 0..<n {
                    if i + 8 < n { hashAhead(i + 8) }
                    if i + 4 < n { ids.prefetch(hash: ring[(i + 4) & 15], .entry) }
                    if i + 2 < n { ids.prefetch(hash: ring[(i + 2) & 15], .bytes) }
                    out.append(prepare(events[i], subjectHash: ring[i & 15]))
                }
            }
        }
        return out
    }

    /// Interns the strings of a checked event, whose subject has hash `subjectHash`
    /// (`Interner.hash`), in the order the events will be folded.
    @inline(__always)
    mutating func prepare(_ checked: CheckedEventView, subjectHash: UInt64) -> PreparedEventView {
        let e = checked.view
        let subject = e.withField(.subject) { ids.intern($0!, hash: subjectHash) }
        let other = Projector.otherId(e) { ids.intern($0) }
        let v = Projector.FieldValues(e) { shortValues.id($0, in: &values) }
        return PreparedEventView(view: e, subject: subject, other: other, values: v)
    }
}
