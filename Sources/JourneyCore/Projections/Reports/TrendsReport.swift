/// What a trends report counts (SPEC §3.6): a funnel step's kind of event.
public typealias TrendStep = FunnelStep

extension FunnelStep {
    /// Whether events of type `t` may match (an inquiry also needs its inquiry bit).
    func matches(type t: EventType) -> Bool {
        switch self {
        case .touch: t.isTouch
        case .inquiry, .contact: t.isContact
        case .type(let x): t == x
        }
    }
}

/// The event property a trends report is grouped by (SPEC §3.6): a funnel breakdown.
public typealias TrendsBreakdown = Breakdown

/// A trends question (SPEC §3.6): events (or distinct patients) matching `step` per calendar
/// bucket of `[from, to)`.
public struct TrendsQuery: Sendable, Hashable {
    /// What is counted.
    public var step: TrendStep
    /// The bucket size.
    public var interval: ReportInterval
    /// The period's start (ms, inclusive).
    public private(set) var from: Int64
    /// The period's end (ms, exclusive).
    public private(set) var to: Int64
    /// The grouping.
    public var by: TrendsBreakdown
    /// Count distinct clusters instead of events.
    public var unique: Bool
    /// Where buckets start.
    public var calendar: ReportCalendar

    /// A validated query: `from < to`.
    public init(step: TrendStep = .touch, interval: ReportInterval = .week, from: Int64, to: Int64,
                by: TrendsBreakdown = .none, unique: Bool = false, calendar: ReportCalendar) throws(ReportQueryError) {
        try ReportQueryError.checkPeriod(from: from, to: to)
        self.step = step
        self.interval = interval
        self.from = from
        self.to = to
        self.by = by
        self.unique = unique
        self.calendar = calendar
    }
}

/// The answer to a trends question (SPEC §5).
public struct TrendsReport: Sendable, Hashable {
    /// The counts of one value of the breakdown property.
    public struct Group: Sendable, Hashable {
        /// The property's value; nil when missing (and for `none`).
        public var value: String?
        /// Per bucket, in `buckets` order.
        public var counts: [Int]
        /// The sum of `counts`; with `unique`, the distinct clusters over the period.
        public var total: Int
    }

    /// What was counted.
    public var step: String
    /// The bucket size.
    public var interval: ReportInterval
    /// The grouping.
    public var by: TrendsBreakdown
    /// Whether distinct clusters were counted.
    public var unique: Bool
    /// Bucket starts (ms).
    public var buckets: [Int64]
    /// Groups by total, descending, then value bytes, null last.
    public var groups: [Group]

    /// A report from its members.
    public init(step: String, interval: ReportInterval, by: TrendsBreakdown, unique: Bool, buckets: [Int64], groups: [Group]) {
        self.step = step
        self.interval = interval
        self.by = by
        self.unique = unique
        self.buckets = buckets
        self.groups = groups
    }

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("step"); w.string(step)
        w.key("interval"); w.string(interval.name)
        w.key("by"); w.string(by.name)
        w.key("unique"); w.bool(unique)
        w.key("buckets"); w.beginArray(); for b in buckets { w.time(ms: b) }; w.endArray()
        w.key("groups")
        w.beginArray()
        for g in groups {
            w.beginObject()
            w.key("value"); w.string(g.value)
            w.key("counts"); w.beginArray(); for c in g.counts { w.int(c) }; w.endArray()
            w.key("total"); w.int(g.total)
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
            let counts = try g.optionalCounts("counts")
            guard !counts.contains(nil) else { throw ProjectionJSONError(path: "groups.counts", reason: "expected integers") }
            groups.append(Group(value: try g.optionalString("value"), counts: counts.map { $0! }, total: try g.count("total")))
        }
        self.init(step: try o.string("step"), interval: try o.named("interval", ReportInterval.allCases, \.name),
                  by: try o.named("by", TrendsBreakdown.allCases, \.name), unique: try o.bool("unique"),
                  buckets: try o.times("buckets"), groups: groups)
    }
}

extension Projector {
    /// The trends report (SPEC §3.6) over every cluster.
    ///
    /// - Throws: `ReportQueryError` when the period spans more than `ReportCalendar.maxBuckets` buckets.
    package func trends(_ q: TrendsQuery) throws(ReportQueryError) -> TrendsReport {
        let buckets = try q.calendar.buckets(q.interval, from: q.from, to: q.to)
        struct Partial: Sendable {
            var index: [Int64: Int] = [:]
            var keys: [Int64] = []
            var counts: [[Int]] = []
            var totals: [Int] = []

            /// The group of `key`, made with `bucketCount` zero counts when new.
            mutating func group(_ key: Int64, bucketCount: Int) -> Int {
                if let existing = index[key] { return existing }
                let g = keys.count
                index[key] = g
                keys.append(key)
                counts.append([Int](repeating: 0, count: bucketCount))
                totals.append(0)
                return g
            }
        }
        let types = ReportTypes(EventType.allCases.filter { q.step.matches(type: $0) })
        let stepTypes = types.clusterMask
        let partials = scanSlots({ Partial() }) { p, out, slots in
            // With `unique`: the (group, bucket) pairs and groups this cluster already counted in.
            var pairs = Set<Int>()
            var groupsSeen = Set<Int>()
            // Only clusters with an event of the step's types at or after `from` count.
            for slot in slots where p.clusters[slot].isRoot && p.clusters[slot].hasAny(stepTypes) && p.clusters[slot].lastAt >= q.from {
                pairs.removeAll(keepingCapacity: true)
                groupsSeen.removeAll(keepingCapacity: true)
                var c = ClusterFigures(root: UInt32(slot))
                p.clusters[slot].scanForReport(upTo: q.to - 1, types: types, firstTouch: false, settle: false, into: &c) { f in
                    guard f.at >= q.from, q.step.matches(f), let b = ReportCalendar.index(of: f.at, in: buckets) else { return }
                    let g = out.group(p.breakdownKey(f, q.by), bucketCount: buckets.count)
                    if q.unique {
                        if pairs.insert(g * buckets.count + b).inserted { out.counts[g][b] += 1 }
                        if groupsSeen.insert(g).inserted { out.totals[g] += 1 }
                    } else {
                        out.counts[g][b] += 1
                        out.totals[g] += 1
                    }
                }
            }
        }
        // The partials, merged by key (a cluster is counted in one partial only, so distinct
        // clusters add up too).
        var all = Partial()
        for part in partials {
            for (i, key) in part.keys.enumerated() {
                let g = all.group(key, bucketCount: buckets.count)
                for b in buckets.indices { all.counts[g][b] += part.counts[i][b] }
                all.totals[g] += part.totals[i]
            }
        }
        let (keys, counts, totals) = (all.keys, all.counts, all.totals)
        var groups: [TrendsReport.Group] = []
        for g in keys.indices { groups.append(.init(value: breakdownName(keys[g], q.by), counts: counts[g], total: totals[g])) }
        groups.sort { a, b in a.total != b.total ? a.total > b.total : groupValueLess(a.value, b.value) }
        return TrendsReport(step: q.step.name, interval: q.interval, by: q.by, unique: q.unique, buckets: buckets, groups: groups)
    }
}
