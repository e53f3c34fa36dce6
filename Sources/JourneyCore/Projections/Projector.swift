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
    /// Cluster slot of each interned id; the slot is the id of the cluster's root.
    var clusterOf: [UInt32] = []
    /// Indexed by root id; non-root slots are empty.
    var clusters: [Cluster] = []
    /// Referrer id → roots of the clusters whose earliest referral names it (for `referrals_made`).
    var referredBy: [UInt32: [UInt32]] = [:]
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
        let fact = makeFact(event, subject: subject, other: other)

        var root = clusterOf[Int(subject)]
        var merged = false
        if type == .identify, other != Fact.none {
            let otherRoot = clusterOf[Int(other)]
            if otherRoot != root {
                root = union(root, otherRoot)
                merged = true
            }
        }
        clusters[Int(root)].insert(fact)
        if type == .identify || merged { recomputeCanonical(root) }
        if type == .referral || merged { updateReferrer(root) }
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
            clusterOf.append(i)
            clusters.append(Cluster(members: [i], facts: [], canonical: i, referrer: Fact.none))
            clusterCount += 1
        }
        return i
    }

    private mutating func makeFact<E: FoldInput>(_ e: E, subject: UInt32, other: UInt32) -> Fact {
        var flags: UInt8 = 0
        if e.isInquiry { flags |= Fact.inquiryFlag }
        if e.resolved == true { flags |= Fact.resolvedFlag }
        func value(_ field: EventRecord.StringField) -> UInt32 {
            e.withField(field) { b in b.map { values.intern($0) } ?? 0 }
        }
        return Fact(
            at: e.at, id: e.withField(.id) { String(decoding: $0!, as: UTF8.self) }, type: e.type,
            channel: e.effectiveChannel?.rawValue ?? Fact.noChannel,
            flags: flags, status: e.status?.rawValue ?? .max,
            subject: subject, other: other,
            source: value(.source), medium: value(.medium),
            campaign: value(.campaign), term: value(.term),
            agent: value(.agent), conversation: value(.conversation),
            concern: value(.concern), message: value(.message),
            appointment: value(.appointment), location: value(.location),
            provider: value(.provider),
            scheduledFor: e.scheduledFor ?? Fact.noTime, amountCents: e.amountCents ?? 0)
    }

    /// Joins two clusters (smaller into larger) and answers the surviving root.
    private mutating func union(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (big, small) = clusters[Int(a)].members.count >= clusters[Int(b)].members.count ? (a, b) : (b, a)
        removeReferrer(big)
        removeReferrer(small)
        let absorbed = clusters[Int(small)]
        clusters[Int(small)] = Cluster()
        for m in absorbed.members { clusterOf[Int(m)] = big }
        clusters[Int(big)].members.append(contentsOf: absorbed.members)
        clusters[Int(big)].mergeFacts(absorbed.facts)
        clusterCount -= 1
        return big
    }

    /// Recomputes the canonical id of a cluster by the rule of SPEC §3.1.
    private mutating func recomputeCanonical(_ root: UInt32) {
        clusters[Int(root)].canonical = Projector.canonical(of: clusters[Int(root)])
    }

    static func canonical(of c: Cluster) -> UInt32 {
        var isSubject = Set<UInt32>()
        var firstPatient = Fact.none
        for f in c.facts where f.type == .identify && f.other != Fact.none {
            isSubject.insert(f.subject)
            if firstPatient == Fact.none { firstPatient = f.other }
        }
        guard firstPatient != Fact.none else { return c.members[0] }
        var candidates: [UInt32] = []
        for m in c.members where !isSubject.contains(m) { candidates.append(m) }
        if candidates.count == 1 { return candidates[0] }
        if candidates.isEmpty { return firstPatient }
        // Several sinks: the one named as patient by the earliest identify naming any of them.
        let set = Set(candidates)
        for f in c.facts where f.type == .identify && f.other != Fact.none && set.contains(f.other) {
            return f.other
        }
        return firstPatient  // unreachable: every sink of a cluster with identifies is a patient
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
        for f in clusters[Int(root)].facts where f.type == .referral && f.other != Fact.none {
            r = f.other
            break
        }
        guard r != clusters[Int(root)].referrer else { return }
        removeReferrer(root)
        if r != Fact.none {
            clusters[Int(root)].referrer = r
            referredBy[r, default: []].append(root)
        }
    }

    // MARK: lookups shared by the queries

    /// The root of the cluster holding `id`, nil for an id never seen.
    func root(of id: String) -> UInt32? {
        guard let i = ids.lookup(id) else { return nil }
        return clusterOf[Int(i)]
    }

    func canonicalName(_ root: UInt32) -> String { ids[clusters[Int(root)].canonical] }

    /// Every id of the cluster but the canonical one, sorted by bytes.
    func aliases(_ root: UInt32) -> [String] {
        let c = clusters[Int(root)]
        return c.members.filter { $0 != c.canonical }.map { ids[$0] }.sorted { $0.bytesLess($1) }
    }

    /// Roots of all clusters.
    var roots: some Sequence<UInt32> {
        clusters.indices.lazy.filter { self.clusters[$0].isRoot }.map { UInt32($0) }
    }
}
