/// The cluster property the patients and cohorts reports are grouped by (SPEC §3.6), both
/// read from the first touch at the report's `as_of`.
public enum PatientsBreakdown: String, Sendable, Hashable, CaseIterable {
    /// The first touch's channel.
    case acquisitionChannel = "acquisition_channel"
    /// The first touch's `source`.
    case source
    /// No breakdown: one group.
    case none

    /// The name used in queries and reports.
    public var name: String { rawValue }

    /// Parses a breakdown name; nil when unknown.
    public init?(name: String) { self.init(rawValue: name) }
}

extension Projector {
    /// The group key of the cluster whose figures are `c` for `by`: the first touch's channel
    /// raw value or interned source; -1 = null (the figures hold the first touch when `by` is
    /// not `none`).
    func patientsKey(_ c: ClusterFigures, _ by: PatientsBreakdown) -> Int64 {
        guard let f = c.firstTouch else { return -1 }
        switch by {
        case .acquisitionChannel: return f.channel == Fact.noChannel ? -1 : Int64(f.channel)
        case .source: return f.source == 0 ? -1 : Int64(f.source)
        case .none: return -1
        }
    }

    /// The value of a `patientsKey`.
    func patientsValue(_ key: Int64, _ by: PatientsBreakdown) -> String? {
        guard key >= 0 else { return nil }
        switch by {
        case .acquisitionChannel: return Channel(rawValue: UInt8(key))?.name
        case .source: return values[UInt32(key)]
        case .none: return nil
        }
    }
}

/// A patients question (SPEC §3.6): new, retained and lapsed patients over `[from, to)`.
public struct PatientsQuery: Sendable, Hashable {
    /// The period's start (ms, inclusive).
    public private(set) var from: Int64
    /// The period's end (ms, exclusive); only events before it count.
    public private(set) var to: Int64
    /// The grouping.
    public var by: PatientsBreakdown

    /// A validated query: `from < to`.
    public init(from: Int64, to: Int64, by: PatientsBreakdown = .none) throws(ReportQueryError) {
        try ReportQueryError.checkPeriod(from: from, to: to)
        self.from = from
        self.to = to
        self.by = by
    }
}

/// The answer to a patients question (SPEC §5).
public struct PatientsReport: Sendable, Hashable {
    /// The clusters with one value of the breakdown property.
    public struct Group: Sendable, Hashable {
        /// The property's value; nil when missing (and for `none`).
        public var value: String?
        /// Clusters whose first visit is in the period.
        public var new: Int
        /// Of those, referred by another patient.
        public var referredNew: Int
        /// Clusters with a visit in the 365 days before `from`.
        public var activeAtStart: Int
        /// Of those, with a visit in the period.
        public var retained: Int
        /// Clusters at stage `lapsed` at `to − 1 ms`.
        public var lapsed: Int
        /// Visits in the period.
        public var visits: Int
        /// The amounts of those visits, in cents.
        public var revenueCents: Int64

        /// retained / active_at_start; nil when none were active.
        public var retentionRate: Double? { reportRate(retained, activeAtStart) }
    }

    /// The period's start (ms).
    public var from: Int64
    /// The period's end (ms, exclusive).
    public var to: Int64
    /// The grouping.
    public var by: PatientsBreakdown
    /// Groups by `new`, descending, then value bytes, null last.
    public var groups: [Group]

    /// A report from its members.
    public init(from: Int64, to: Int64, by: PatientsBreakdown, groups: [Group]) {
        self.from = from
        self.to = to
        self.by = by
        self.groups = groups
    }

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("from"); w.time(ms: from)
        w.key("to"); w.time(ms: to)
        w.key("by"); w.string(by.name)
        w.key("groups")
        w.beginArray()
        for g in groups {
            w.beginObject()
            w.key("value"); w.string(g.value)
            w.key("new"); w.int(g.new)
            w.key("referred_new"); w.int(g.referredNew)
            w.key("active_at_start"); w.int(g.activeAtStart)
            w.key("retained"); w.int(g.retained)
            w.key("retention_rate"); w.rate(g.retentionRate)
            w.key("lapsed"); w.int(g.lapsed)
            w.key("visits"); w.int(g.visits)
            w.key("revenue"); w.money(cents: g.revenueCents)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }

    /// Reads the SPEC §5 object (what `writeJSON` writes) back into a value; members it does
    /// not know are ignored. Throws when a member is missing or has the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var groups: [Group] = []
        for g in try o.objects("groups") {
            groups.append(Group(
                value: try g.optionalString("value"), new: try g.count("new"), referredNew: try g.count("referred_new"),
                activeAtStart: try g.count("active_at_start"), retained: try g.count("retained"),
                lapsed: try g.count("lapsed"), visits: try g.count("visits"), revenueCents: try g.money("revenue")))
        }
        self.init(from: try o.time("from"), to: try o.time("to"),
                  by: try o.named("by", PatientsBreakdown.allCases, \.name), groups: groups)
    }
}

extension Projector {
    /// The patients report (SPEC §3.6) over every cluster, at `as_of = to − 1 ms`.
    package func patients(_ q: PatientsQuery) -> PatientsReport {
        let asOf = q.to - 1
        let yearBefore = Int128(q.from) - Int128(Durations.lapse)
        struct Partial: Sendable {
            var index: [Int64: Int] = [:]
            var keys: [Int64] = []
            var groups: [PatientsReport.Group] = []

            /// Adds one cluster's counts (or another partial's group) to the group of `key`.
            mutating func add(_ g: PatientsReport.Group, key: Int64) {
                let i: Int
                if let existing = index[key] {
                    i = existing
                } else {
                    i = groups.count
                    index[key] = i
                    keys.append(key)
                    groups.append(.init(value: nil, new: 0, referredNew: 0, activeAtStart: 0, retained: 0, lapsed: 0, visits: 0, revenueCents: 0))
                }
                groups[i].new += g.new
                groups[i].referredNew += g.referredNew
                groups[i].activeAtStart += g.activeAtStart
                groups[i].retained += g.retained
                groups[i].lapsed += g.lapsed
                groups[i].visits += g.visits
                let (sum, overflow) = groups[i].revenueCents.addingReportingOverflow(g.revenueCents)
                groups[i].revenueCents = overflow ? .max : sum
            }
        }
        let types = ReportTypes([.visit])
        // Every count of the report needs a visit: clusters without one are passed over.
        let visited = types.clusterMask
        let partials = scanSlots({ Partial() }) { p, out, slots in
            for slot in slots where p.clusters[slot].isRoot && p.clusters[slot].hasAny(visited) {
                var g = PatientsReport.Group(value: nil, new: 0, referredNew: 0, activeAtStart: 0, retained: 0,
                                             lapsed: 0, visits: 0, revenueCents: 0)
                var activeBefore = false, visitedIn = false
                var c = ClusterFigures(root: UInt32(slot))
                p.clusters[slot].scanForReport(upTo: asOf, types: types, firstTouch: q.by != .none, settle: false, into: &c) { f in
                    if Int128(f.at) >= yearBefore && f.at < q.from { activeBefore = true }
                    if f.at >= q.from {
                        visitedIn = true
                        g.visits += 1
                        let (sum, overflow) = g.revenueCents.addingReportingOverflow(f.amountCents)
                        g.revenueCents = overflow ? .max : sum
                    }
                }
                if let first = c.firstVisit, first >= q.from {
                    g.new = 1
                    if c.referrer != Fact.none { g.referredNew = 1 }
                }
                if activeBefore {
                    g.activeAtStart = 1
                    if visitedIn { g.retained = 1 }
                }
                if c.isLapsed(asOf: asOf) { g.lapsed = 1 }
                guard g.new + g.activeAtStart + g.lapsed + g.visits > 0 else { continue }
                out.add(g, key: p.patientsKey(c, q.by))
            }
        }
        var all = Partial()
        for part in partials {
            for (i, key) in part.keys.enumerated() { all.add(part.groups[i], key: key) }
        }
        var groups = all.groups
        for i in groups.indices { groups[i].value = patientsValue(all.keys[i], q.by) }
        groups.sort { a, b in a.new != b.new ? a.new > b.new : groupValueLess(a.value, b.value) }
        return PatientsReport(from: q.from, to: q.to, by: q.by, groups: groups)
    }
}
