/// The incremental projector of SPEC §3: folds events in any order into identity clusters and
/// answers the journey, handoff, funnel, contact and at-risk queries.
///
/// The state is a canonical function of the *set* of events applied (each cluster keeps its
/// events sorted in timeline order), so replay, live folding and any permutation agree by
/// construction. Queries compute from a cluster's few facts at query time.
public struct Projector: Sendable {
    /// Subject, patient and referrer ids.
    var ids = Interner(reservingZero: false)
    /// Every other string a query reads (source, agent, conversation, …); 0 = absent.
    var values = Interner(reservingZero: true)
    /// Cluster slot of each interned id.
    var clusterOf: [UInt32] = []
    /// The next id of the same cluster, per id: each cluster's ids form a ring.
    var nextMember: [UInt32] = []
    /// Indexed by cluster slot; free slots (`isRoot` false) are reused for new clusters.
    var clusters: [Cluster] = []
    /// Slots emptied by merges.
    var freeSlots: [UInt32] = []
    /// Referrer id → slots of the clusters whose earliest referral names it (for `referrals_made`).
    var referredBy: [UInt32: [UInt32]] = [:]
    /// Scratch space for encoding one record (kept to avoid allocating per event).
    private var scratch: [UInt8] = []
    private var scratchFields: [UInt8] = []
    /// The number of events applied.
    public internal(set) var eventCount: Int = 0
    /// The number of identity clusters (every id seen as subject, patient or referrer).
    public internal(set) var clusterCount: Int = 0

    /// An empty projection.
    public init() {}

    // MARK: folding

    /// Folds one event into the projection. Order of calls does not matter (SPEC §3).
    public mutating func apply(_ event: Event) { fold(event) }

    /// Folds one stored event straight from its record bytes, allocating nothing on the usual
    /// path; the answers are the same as for `apply(view.event())`.
    ///
    /// - Throws: `EventRecord.DecodeError` when a string is not valid UTF-8 (the check
    ///   `view.event()` makes); the projection is then unchanged.
    public mutating func apply(_ view: EventView) throws(EventRecord.DecodeError) {
        try view.validateUTF8()
        fold(view)
    }

    private mutating func fold<E: FoldInput>(_ event: E) {
        eventCount += 1
        let type = event.type
        let subject = event.withField(.subject) { internId($0!) }
        var other = Fact.none
        if type == .identify { other = event.withField(.patient) { $0.map { internId($0) } ?? Fact.none } }
        if type == .referral { other = event.withField(.referrer) { $0.map { internId($0) } ?? Fact.none } }
        encodeBody(event, type: type, subject: subject, other: other)

        var root = clusterOf[Int(subject)]
        var merged = false
        if type == .identify, other != Fact.none {
            let otherRoot = clusterOf[Int(other)]
            if otherRoot != root {
                root = union(root, otherRoot)
                merged = true
            }
        }
        let at = event.at
        let body = scratch
        body.withUnsafeBytes { b in
            event.withField(.id) { id in clusters[Int(root)].insert(at: at, id: id!, body: b) }
        }
        if type == .identify || merged { recomputeCanonical(root) }
        if type == .referral || merged { updateReferrer(root) }
    }

    /// The interned string fields of a record, in stored order.
    private static let valueFields: [(EventRecord.StringField, FactRecord.Field)] = [
        (.source, .source), (.medium, .medium), (.campaign, .campaign), (.term, .term), (.agent, .agent),
        (.conversation, .conversation), (.concern, .concern), (.message, .message),
        (.appointment, .appointment), (.location, .location), (.provider, .provider),
    ]

    /// Encodes the record body of `e` (everything after the `at` delta) into `scratch`.
    private mutating func encodeBody<E: FoldInput>(_ e: E, type: EventType, subject: UInt32, other: UInt32) {
        typealias R = FactRecord
        scratchFields.removeAll(keepingCapacity: true)
        var mask: UInt64 = 0
        @inline(__always) func put(_ field: R.Field, _ v: UInt64, _ mask: inout UInt64, _ out: inout [UInt8]) {
            mask |= 1 << UInt64(field.rawValue)
            R.appendVarint(v, to: &out)
        }
        if let s = e.status { put(.status, UInt64(s.rawValue), &mask, &scratchFields) }
        if type == .identify { put(.subject, UInt64(subject), &mask, &scratchFields) }
        if other != Fact.none { put(.other, UInt64(other), &mask, &scratchFields) }
        for (field, f) in Projector.valueFields {
            let v = e.withField(field) { b in b.map { values.intern($0) } ?? 0 }
            if v != 0 { put(f, UInt64(v), &mask, &scratchFields) }
        }
        let at = e.at
        if let s = e.scheduledFor { put(.scheduledFor, R.zigzag(s &- at), &mask, &scratchFields) }
        if let a = e.amountCents, a != 0 { put(.amount, R.zigzag(a), &mask, &scratchFields) }

        scratch.removeAll(keepingCapacity: true)
        var header = type.rawValue
        if e.isInquiry { header |= R.inquiryBit }
        if e.resolved == true { header |= R.resolvedBit }
        let channel = e.effectiveChannel?.rawValue ?? Fact.noChannel
        let byDefault = type.defaultChannel?.rawValue ?? Fact.noChannel
        if channel != byDefault { header |= R.channelBit }
        if mask != 0 { header |= R.fieldsBit }
        scratch.append(header)
        if channel != byDefault { scratch.append(channel) }
        e.withField(.id) { id in
            R.appendVarint(UInt64(id!.count), to: &scratch)
            scratch.append(contentsOf: id!)
        }
        if mask != 0 {
            R.appendVarint(mask, to: &scratch)
            scratch.append(contentsOf: scratchFields)
        }
    }

    /// Folds a batch of events, in any order.
    public mutating func apply(contentsOf events: some Sequence<Event>) {
        for e in events { apply(e) }
    }

    /// The canonical id of the cluster holding `id` (SPEC §3.1); nil for an id never seen.
    public func canonicalId(of id: String) -> String? {
        root(of: id).map(canonicalName)
    }

    /// Every id of the cluster holding `id`, canonical first, then the aliases sorted by bytes;
    /// nil for an id never seen. (A patient's history is the events of all these subjects.)
    public func clusterIds(of id: String) -> [String]? {
        guard let root = root(of: id) else { return nil }
        return [canonicalName(root)] + aliases(root)
    }

    private mutating func internId(_ s: UnsafeRawBufferPointer) -> UInt32 {
        let i = ids.intern(s)
        if Int(i) == clusterOf.count {
            nextMember.append(i)
            let c = Cluster(head: i, memberCount: 1, canonical: i)
            if let slot = freeSlots.popLast() {
                clusters[Int(slot)] = c
                clusterOf.append(slot)
            } else {
                clusterOf.append(UInt32(clusters.count))
                clusters.append(c)
            }
            clusterCount += 1
        }
        return i
    }

    /// Joins two clusters (fewer ids into more) and answers the surviving slot.
    private mutating func union(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (big, small) = clusters[Int(a)].memberCount >= clusters[Int(b)].memberCount ? (a, b) : (b, a)
        removeReferrer(big)
        removeReferrer(small)
        let absorbed = clusters[Int(small)]
        clusters[Int(small)] = Cluster()
        freeSlots.append(small)
        forEachMember(of: absorbed) { clusterOf[Int($0)] = big }
        // Splice the two rings into one.
        let h1 = clusters[Int(big)].head, h2 = absorbed.head
        let n1 = nextMember[Int(h1)]
        nextMember[Int(h1)] = nextMember[Int(h2)]
        nextMember[Int(h2)] = n1
        clusters[Int(big)].memberCount += absorbed.memberCount
        clusters[Int(big)].mergeLog(absorbed)
        clusterCount -= 1
        return big
    }

    /// Calls `body` with each id of a cluster, its head first.
    func forEachMember(of c: Cluster, _ body: (UInt32) -> Void) {
        guard c.memberCount > 0 else { return }
        var m = c.head
        repeat {
            body(m)
            m = nextMember[Int(m)]
        } while m != c.head
    }

    /// The ids of the cluster in `slot`, its head first.
    func members(_ slot: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        forEachMember(of: clusters[Int(slot)]) { out.append($0) }
        return out
    }

    /// Recomputes the canonical id of a cluster by the rule of SPEC §3.1.
    private mutating func recomputeCanonical(_ root: UInt32) {
        clusters[Int(root)].canonical = canonical(of: clusters[Int(root)])
    }

    func canonical(of c: Cluster) -> UInt32 {
        var isSubject = Set<UInt32>()
        var firstPatient = Fact.none
        c.forEachFact { f in
            if f.type == .identify && f.other != Fact.none {
                isSubject.insert(f.subject)
                if firstPatient == Fact.none { firstPatient = f.other }
            }
        }
        guard firstPatient != Fact.none else { return c.head }
        var candidates: [UInt32] = []
        forEachMember(of: c) { m in if !isSubject.contains(m) { candidates.append(m) } }
        if candidates.count == 1 { return candidates[0] }
        if candidates.isEmpty { return firstPatient }
        // Several sinks: the one named as patient by the earliest identify naming any of them.
        let set = Set(candidates)
        var chosen = Fact.none
        c.forEachFact { f in
            if chosen == Fact.none, f.type == .identify, f.other != Fact.none, set.contains(f.other) { chosen = f.other }
        }
        return chosen != Fact.none ? chosen : firstPatient  // every sink of a cluster with identifies is a patient
    }

    private mutating func removeReferrer(_ root: UInt32) {
        let r = clusters[Int(root)].referrer
        guard r != Fact.none else { return }
        if var list = referredBy[r] {
            list.removeAll { $0 == root }
            referredBy[r] = list.isEmpty ? nil : list
        }
        clusters[Int(root)].referrer = Fact.none
    }

    /// Re-derives the cluster's earliest referral and keeps the reverse index in step.
    mutating func rebuildReferrer(_ root: UInt32) { updateReferrer(root) }

    private mutating func updateReferrer(_ root: UInt32) {
        var r = Fact.none
        clusters[Int(root)].forEachFact { f in
            if r == Fact.none, f.type == .referral, f.other != Fact.none { r = f.other }
        }
        guard r != clusters[Int(root)].referrer else { return }
        removeReferrer(root)
        if r != Fact.none {
            clusters[Int(root)].referrer = r
            referredBy[r, default: []].append(root)
        }
    }

    // MARK: lookups shared by the queries

    /// The slot of the cluster holding `id`, nil for an id never seen.
    func root(of id: String) -> UInt32? {
        guard let i = ids.lookup(id) else { return nil }
        return clusterOf[Int(i)]
    }

    func canonicalName(_ root: UInt32) -> String { ids[clusters[Int(root)].canonical] }

    /// Every id of the cluster but the canonical one, sorted by bytes.
    func aliases(_ root: UInt32) -> [String] {
        let canonical = clusters[Int(root)].canonical
        return members(root).filter { $0 != canonical }.map { ids[$0] }.sorted { $0.bytesLess($1) }
    }

    /// Roots of all clusters.
    var roots: some Sequence<UInt32> {
        clusters.indices.lazy.filter { self.clusters[$0].isRoot }.map { UInt32($0) }
    }
}
