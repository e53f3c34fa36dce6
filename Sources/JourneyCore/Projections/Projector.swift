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
    public mutating func apply(_ event: Event) {
        eventCount += 1
        let subject = internId(event.subject)
        var other = Fact.none
        if event.type == .identify, let p = event.patient { other = internId(p) }
        if event.type == .referral, let r = event.referrer { other = internId(r) }
        let fact = makeFact(event, subject: subject, other: other)

        var root = clusterOf[Int(subject)]
        var merged = false
        if event.type == .identify, other != Fact.none {
            let otherRoot = clusterOf[Int(other)]
            if otherRoot != root {
                root = union(root, otherRoot)
                merged = true
            }
        }
        clusters[Int(root)].insert(fact)
        if event.type == .identify || merged { recomputeCanonical(root) }
        if event.type == .referral || merged { updateReferrer(root) }
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

    private mutating func internId(_ s: String) -> UInt32 {
        let i = ids.intern(s)
        if Int(i) == clusterOf.count {
            clusterOf.append(i)
            clusters.append(Cluster(members: [i], facts: [], canonical: i, referrer: Fact.none))
            clusterCount += 1
        }
        return i
    }

    private mutating func makeFact(_ e: Event, subject: UInt32, other: UInt32) -> Fact {
        var flags: UInt8 = 0
        if e.isInquiry { flags |= Fact.inquiryFlag }
        if e.resolved == true { flags |= Fact.resolvedFlag }
        return Fact(
            at: e.at, id: e.id, type: e.type,
            channel: e.effectiveChannel?.rawValue ?? Fact.noChannel,
            flags: flags, status: e.status?.rawValue ?? .max,
            subject: subject, other: other,
            source: values.intern(e.source), medium: values.intern(e.medium),
            campaign: values.intern(e.campaign), term: values.intern(e.term),
            agent: values.intern(e.agent), conversation: values.intern(e.conversation),
            concern: values.intern(e.concern), message: values.intern(e.message),
            appointment: values.intern(e.appointment), location: values.intern(e.location),
            provider: values.intern(e.provider),
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
