/// A place in timeline order (SPEC §3): an event's `at` and its id's bytes.
struct TimelineKey: Sendable, Equatable {
    var at: Int64
    var id: [UInt8]

    /// Whether this key comes before the event at `at` with id `other`.
    func precedes(_ at: Int64, _ other: FactRecord.SplitID) -> Bool {
        if self.at != at { return self.at < at }
        return id.withUnsafeBytes { FactRecord.SplitID($0).precedes(other) }
    }

    /// Whether this key comes after the event at `at` with id `other` (ids are unique, so a
    /// key that neither precedes nor follows an event is that event's).
    func follows(_ at: Int64, _ other: FactRecord.SplitID) -> Bool {
        if self.at != at { return self.at > at }
        return id.withUnsafeBytes { other.precedes(FactRecord.SplitID($0)) }
    }

    /// Whether this key comes before `other`.
    func precedes(_ other: TimelineKey) -> Bool {
        other.id.withUnsafeBytes { precedes(other.at, FactRecord.SplitID($0)) }
    }
}

/// Withdrawn identity links (SPEC §3.1, `unlink`).
///
/// An identify of the pair (A, B) links only when no unlink of the same pair comes after it in
/// timeline order. The projector keeps the latest unlink of each pair (`unlinks`): an identify
/// is checked against it before its clusters are joined, and an unlink that arrives after an
/// identify it withdraws (in the log, or in timeline order) marks the cluster for a rebuild.
/// Records do not keep the subject of most events, so a cluster cannot be split from its
/// records: whoever holds the events takes the marked clusters apart
/// (`dissolvePendingSplits`) and folds their events again, which joins exactly the links
/// that still stand. Until then the projector must answer no query.
extension Projector {
    /// The key of the pair (subject, patient) in `unlinks`.
    @inline(__always)
    static func pairKey(_ subject: UInt32, _ other: UInt32) -> UInt64 { UInt64(subject) << 32 | UInt64(other) }

    /// Whether an identify of `subject` as alias of `other`, at `at` with id `id`, links.
    func isLinking(at: Int64, id: UnsafeRawBufferPointer, subject: UInt32, other: UInt32) -> Bool {
        guard let u = unlinks[Projector.pairKey(subject, other)] else { return true }
        return u.precedes(at, FactRecord.SplitID(id))
    }

    /// Whether the identify fact `f` (with id `id`) links, given the latest unlinks.
    static func isLinking(_ f: Fact, id: FactRecord.SplitID, _ unlinks: [UInt64: TimelineKey]) -> Bool {
        guard let u = unlinks[pairKey(f.subject, f.other)] else { return true }
        return u.precedes(f.at, id)
    }

    /// Records an unlink of `subject` from `other` (folded into `subject`'s cluster), and marks
    /// that cluster for a rebuild when the unlink withdraws an identify that linked until now:
    /// one of the pair's, after the pair's previous latest unlink and before this one.
    @inline(never)
    mutating func noteUnlink<E: FoldInput>(_ event: E, subject: UInt32, other: UInt32) {
        let key = Projector.pairKey(subject, other)
        let new = event.withField(.id) { TimelineKey(at: event.at, id: Array($0!)) }
        let old = unlinks[key]
        if let old, !old.precedes(new) { return }
        unlinks[key] = new
        // An identify of the pair that links has joined the two ids: in separate clusters, none does.
        let root = clusterOf[Int(subject)]
        guard root == clusterOf[Int(other)] else { return }
        var withdrawn = false
        clusters[Int(root)].forEachFactAndID(ofType: .identify) { f, id in
            guard !withdrawn, f.subject == subject, f.other == other else { return }
            if new.follows(f.at, id), old.map({ $0.precedes(f.at, id) }) ?? true { withdrawn = true }
        }
        if withdrawn { pendingSplits.append(subject) }
    }

    /// Whether some cluster must be rebuilt from its events before the projector answers a
    /// query or is serialized (see `dissolvePendingSplits`).
    package var hasPendingSplits: Bool { !pendingSplits.isEmpty }

    /// The ids of the clusters marked for a rebuild: the subjects whose events
    /// `dissolvePendingSplits` will need folded again.
    package var pendingSplitSubjects: [String] {
        var roots = Set<UInt32>()
        for id in pendingSplits { roots.insert(clusterOf[Int(id)]) }
        var out: [String] = []
        for root in roots.sorted() {
            forEachMember(of: clusters[Int(root)]) { out.append(ids[$0]) }
        }
        return out
    }

    /// Takes apart every cluster marked for a rebuild: each of its ids becomes a cluster of its
    /// own without events, and the events the cluster held are no longer counted. Answers those
    /// ids (`pendingSplitSubjects`): the caller must then fold again every event it has folded
    /// whose subject is one of them (in any order), which rebuilds the clusters that the links
    /// still standing make. Answers an empty list when nothing is marked.
    package mutating func dissolvePendingSplits() -> [String] {
        guard !pendingSplits.isEmpty else { return [] }
        var roots = Set<UInt32>()
        for id in pendingSplits { roots.insert(clusterOf[Int(id)]) }
        pendingSplits.removeAll()
        var subjects: [String] = []
        for root in roots.sorted() {
            removeReferrer(root)
            eventCount -= clusters[Int(root)].recordCount
            let ids = members(root)
            clusters[Int(root)] = Cluster()
            freeSlots.append(root)
            clusterCount -= 1
            for m in ids {
                clearIdentifiedSubject(m)
                let c = Cluster(head: m, memberCount: 1, canonical: m)
                let slot: UInt32
                if let free = freeSlots.popLast() {
                    slot = free
                    clusters[Int(slot)] = c
                } else {
                    slot = UInt32(clusters.count)
                    clusters.append(c)
                }
                clusterOf[Int(m)] = slot
                nextMember[Int(m)] = m
                clusterCount += 1
                subjects.append(self.ids[m])
            }
        }
        return subjects
    }

    /// Rebuilds the clusters marked for a rebuild from `events`, the events folded so far (any
    /// order; those of other subjects are skipped): for projectors fed from memory.
    package mutating func resolveSplits(from events: some Collection<Event>) {
        while hasPendingSplits {
            let subjects = Set(dissolvePendingSplits())
            for e in events where subjects.contains(e.subject) { apply(e) }
        }
    }

    mutating func clearIdentifiedSubject(_ id: UInt32) {
        let word = Int(id >> 6)
        guard word < identifiedSubjects.count else { return }
        identifiedSubjects[word] &= ~(1 &<< UInt64(id & 63))
    }

    /// Re-derives `unlinks` and the linking identifies' subjects from the records (after a
    /// snapshot load), then every cluster's canonical id.
    mutating func rederiveLinks() {
        unlinks = [:]
        let rootList = Array(roots)
        for root in rootList {
            let c = clusters[Int(root)]
            c.forEachFactAndID(ofType: .unlink) { f, id in
                guard f.other != Fact.none else { return }
                var bytes: [UInt8] = []
                id.append(to: &bytes)
                let new = TimelineKey(at: f.at, id: bytes)
                let key = Projector.pairKey(f.subject, f.other)
                if let old = unlinks[key], !old.precedes(new) { return }
                unlinks[key] = new
            }
        }
        guard !unlinks.isEmpty else { return }
        identifiedSubjects = []
        let latest = unlinks
        for root in rootList {
            let c = clusters[Int(root)]
            c.forEachFactAndID(ofType: .identify) { f, id in
                if f.other != Fact.none, Projector.isLinking(f, id: id, latest) { markIdentifiedSubject(f.subject) }
            }
        }
        for root in rootList { clusters[Int(root)].canonical = canonical(of: clusters[Int(root)]) }
    }
}
