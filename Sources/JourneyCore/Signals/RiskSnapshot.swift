/// A set of risk rules (SPEC §3.2), one bit per `Risk`, iterated in SPEC order.
package struct RiskSet: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
    /// One bit per rule, at `Risk.rawValue`.
    package var rawValue: UInt8
    /// The set of the rules whose bits are set in `rawValue`.
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The set of the rules listed.
    package init(arrayLiteral risks: Risk...) { self.init(risks) }
    /// Whether the set holds no rule.
    package var isEmpty: Bool { rawValue == 0 }

    /// The set holding `risks`.
    package init(_ risks: some Sequence<Risk>) {
        rawValue = 0
        for r in risks { insert(r) }
    }

    /// Adds a rule.
    package mutating func insert(_ r: Risk) { rawValue |= 1 << r.rawValue }
    /// Removes a rule.
    package mutating func remove(_ r: Risk) { rawValue &= ~(1 << r.rawValue) }
    /// Whether the set holds `r`.
    package func contains(_ r: Risk) -> Bool { rawValue & (1 << r.rawValue) != 0 }

    /// The rules held, in SPEC order.
    package func makeIterator() -> IndexingIterator<[Risk]> {
        Risk.allCases.filter { contains($0) }.makeIterator()
    }
}

/// An id an event named (its subject, or the patient of an identify, the referrer of a
/// referral) and the event's `at`, as folding records them for signals.
package struct TouchedId: Sendable, Hashable {
    /// The interned id.
    package var id: UInt32
    /// The `at` of the event that named it (ms).
    package var at: Int64
}

/// Storage `riskSnapshot` reuses from one cluster to the next (the decoded facts of a cluster
/// whose messages it reads), so that evaluating many clusters allocates it once.
package struct RiskScratch {
    var facts: [Fact] = []
    /// Empty storage.
    package init() {}
}

/// What signals read of one cluster at an instant `asOf` (the point-in-time view of SPEC §3.2:
/// only events with `at ≤ asOf` count).
package struct RiskSnapshot: Sendable, Hashable {
    /// The canonical id.
    package var canonical: String
    /// Every id of the cluster but the canonical one (empty for most clusters: no list is
    /// built for a cluster of one id).
    package var aliases: [String]
    /// The stage at `asOf`.
    package var stage: Stage
    /// The rules that hold at `asOf`.
    package var risk: RiskSet
    /// The channels whose latest `consent` at `asOf` is `granted`, in channel order.
    package var contactable: [Channel]
    /// The earliest instant after `asOf` at which the risk set may change with no new event:
    /// an elapsed-time threshold, or an event dated later than `asOf` starting to count.
    package var nextChange: Int64?
    /// The `at` of the latest event counted at `asOf`.
    package var latestAt: Int64?
    /// For each elapsed-time rule that holds, the instant its threshold passed (ms).
    package var thresholds: RiskThresholds
}

/// For some rules, the instant each started to hold (ms): a table of five times kept inline,
/// so that a snapshot allocates none.
package struct RiskThresholds: Sendable, Hashable {
    /// The rules that have a time.
    private var rules: RiskSet = []
    /// The times by `Risk.rawValue` (0 for a rule without one).
    private var times = SIMD8<Int64>()

    /// No time for any rule.
    package init() {}

    /// The time of rule `r`, nil when it has none; setting nil removes it.
    package subscript(r: Risk) -> Int64? {
        get { rules.contains(r) ? times[Int(r.rawValue)] : nil }
        set {
            if let t = newValue {
                rules.insert(r)
                times[Int(r.rawValue)] = t
            } else {
                rules.remove(r)
                times[Int(r.rawValue)] = 0
            }
        }
    }
}

extension Projector {
    /// Takes the ids recorded since the last call (see `tracksTouched`).
    package mutating func takeTouched() -> [TouchedId] {
        var out: [TouchedId] = []
        swap(&out, &touched)
        return out
    }

    /// The slot of the cluster holding interned id `id` (valid until the next fold); nil for an
    /// id this projector does not have (ids of another projector, before a rebuild swapped
    /// this one in).
    package func clusterSlot(ofIdNumber id: UInt32) -> UInt32? {
        guard Int(id) < clusterOf.count else { return nil }
        let root = clusterOf[Int(id)]
        return clusters[Int(root)].isRoot ? root : nil
    }

    /// The risk snapshot at `asOf` of the cluster in `slot` (see `clusterSlot`); nil when the
    /// slot holds no cluster. `scratch` is storage reused from call to call.
    package func riskSnapshot(slot: UInt32, asOf: Int64, scratch: inout RiskScratch) -> RiskSnapshot? {
        guard Int(slot) < clusters.count, clusters[Int(slot)].isRoot else { return nil }
        return riskSnapshot(root: slot, asOf: asOf, scratch: &scratch)
    }

    /// The risk snapshot at `asOf` of the cluster in `slot` (see `clusterSlot`); nil when the
    /// slot holds no cluster.
    package func riskSnapshot(slot: UInt32, asOf: Int64) -> RiskSnapshot? {
        var scratch = RiskScratch()
        return riskSnapshot(slot: slot, asOf: asOf, scratch: &scratch)
    }

    /// The risk snapshot at `asOf` of the cluster holding `id`; nil for an id never seen.
    /// `scratch` is storage reused from call to call.
    package func riskSnapshot(id: String, asOf: Int64, scratch: inout RiskScratch) -> RiskSnapshot? {
        guard let root = root(of: id) else { return nil }
        return riskSnapshot(root: root, asOf: asOf, scratch: &scratch)
    }

    /// The snapshot of the cluster rooted at `root`, read in one pass over its records
    /// (`scanForRisk`); its facts are decoded into `scratch` only for `declining_engagement`,
    /// when at least 4 messages were sent.
    func riskSnapshot(root: UInt32, asOf: Int64, scratch: inout RiskScratch) -> RiskSnapshot {
        let f = clusters[Int(root)].scanForRisk(upTo: asOf)
        let canonical = canonicalName(root)
        var aliases: [String] = []
        if clusters[Int(root)].memberCount > 1 {
            let c = clusters[Int(root)].canonical
            for m in members(root) where m != c { aliases.append(ids[m]) }
        }
        guard f.counted > 0 else {
            return RiskSnapshot(canonical: canonical, aliases: aliases, stage: .prospect, risk: [], contactable: [],
                                nextChange: f.future, latestAt: nil, thresholds: RiskThresholds())
        }
        var risk = f.risk(asOf: asOf)
        if f.sends >= 4 {
            clusters[Int(root)].decodeFacts(into: &scratch.facts, asOf: asOf)
            if LifecycleFacts.decliningEngagement(scratch.facts) { risk.insert(.decliningEngagement) }
        }
        // The instant each elapsed-time rule starts to hold, given these events.
        var next = f.future
        var thresholds = RiskThresholds()
        func start(_ r: Risk, _ t: Int64) {
            if t > asOf {
                next = min(next ?? t, t)
            } else if risk.contains(r) {
                thresholds[r] = t
            }
        }
        if f.visits >= 1 {
            start(.lapsed, Self.clamped(Int128(f.lastVisitAt) + Int128(Durations.lapse) + 1))
        }
        if f.visits >= 3 {
            // The least as_of with (as_of − last)·(visits − 1) > 2·(last − first).
            let first = Int128(f.firstVisitAt), last = Int128(f.lastVisitAt)
            start(.overdue, Self.clamped(last + (2 * (last - first)) / Int128(f.visits - 1) + 1))
        }
        let lastCare = max(f.lastBooking, f.lastVisit)
        if f.lastCancellation >= 0, f.lastCancellation > lastCare {
            start(.cancelledNotRebooked, Self.clamped(Int128(f.lastCancellationAt) + Int128(Durations.cancelGrace)))
        }
        if f.lastNoShow >= 0, f.lastNoShow > lastCare {
            start(.noShowNotRebooked, Self.clamped(Int128(f.lastNoShowAt) + Int128(Durations.noShowGrace)))
        }
        return RiskSnapshot(
            canonical: canonical, aliases: aliases, stage: f.stage(asOf: asOf), risk: risk,
            contactable: f.contactable, nextChange: next, latestAt: f.latestAt, thresholds: thresholds)
    }

    private static func clamped(_ t: Int128) -> Int64 {
        t > Int128(Int64.max) ? .max : t < Int128(Int64.min) ? .min : Int64(t)
    }
}

extension Projector {
    /// Calls `body` with the canonical id of every cluster.
    package func forEachCanonicalId(_ body: (String) -> Void) {
        for root in roots { body(canonicalName(root)) }
    }

    /// Whether `id` is the canonical id of its cluster (false for an id never seen).
    package func isCanonical(_ id: String) -> Bool {
        guard let i = ids.lookup(id) else { return false }
        return clusters[Int(clusterOf[Int(i)])].canonical == i
    }
}
