/// A cohorts question (SPEC §3.6): clusters by the calendar month of their first visit, for
/// months starting in `[from, to)`, and how many of each visited in each following month.
public struct CohortsQuery: Sendable, Hashable {
    /// The default number of months followed.
    public static let defaultPeriods = 12

    /// The period's start (ms, inclusive).
    public private(set) var from: Int64
    /// The period's end (ms, exclusive); only events before it count.
    public private(set) var to: Int64
    /// Months followed per cohort, its own first (1 to 120).
    public private(set) var periods: Int
    /// The grouping besides the month.
    public var by: PatientsBreakdown
    /// Where months start.
    public var calendar: ReportCalendar

    /// A validated query: `from < to`, `periods` 1 to 120.
    public init(from: Int64, to: Int64, periods: Int = CohortsQuery.defaultPeriods, by: PatientsBreakdown = .none,
                calendar: ReportCalendar) throws(ReportQueryError) {
        try ReportQueryError.checkPeriod(from: from, to: to)
        guard (1...120).contains(periods) else { throw ReportQueryError(field: "periods", "must be 1 to 120, got \(periods)") }
        self.from = from
        self.to = to
        self.periods = periods
        self.by = by
        self.calendar = calendar
    }
}

/// The answer to a cohorts question (SPEC §5).
public struct CohortsReport: Sendable, Hashable {
    /// The clusters of one first-visit month (and breakdown value).
    public struct Cohort: Sendable, Hashable {
        /// `YYYY-MM` in the query's zone.
        public var month: String
        /// The breakdown value; nil when missing (and for `none`).
        public var value: String?
        /// The clusters in the cohort.
        public var size: Int
        /// Per month from the cohort's own (k = 0), the clusters with a visit in it; nil for a
        /// month starting at or after `to`.
        public var retained: [Int?]
    }

    /// The period's start (ms).
    public var from: Int64
    /// The period's end (ms, exclusive).
    public var to: Int64
    /// Months followed per cohort.
    public var periods: Int
    /// The grouping besides the month.
    public var by: PatientsBreakdown
    /// Cohorts by month, then value bytes, null last.
    public var cohorts: [Cohort]

    /// A report from its members.
    public init(from: Int64, to: Int64, periods: Int, by: PatientsBreakdown, cohorts: [Cohort]) {
        self.from = from
        self.to = to
        self.periods = periods
        self.by = by
        self.cohorts = cohorts
    }

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("from"); w.time(ms: from)
        w.key("to"); w.time(ms: to)
        w.key("periods"); w.int(periods)
        w.key("by"); w.string(by.name)
        w.key("cohorts")
        w.beginArray()
        for c in cohorts {
            w.beginObject()
            w.key("month"); w.string(c.month)
            w.key("value"); w.string(c.value)
            w.key("size"); w.int(c.size)
            w.key("retained")
            w.beginArray()
            for r in c.retained { if let r { w.int(r) } else { w.null() } }
            w.endArray()
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
        var cohorts: [Cohort] = []
        for c in try o.objects("cohorts") {
            cohorts.append(Cohort(month: try c.string("month"), value: try c.optionalString("value"),
                                  size: try c.count("size"), retained: try c.optionalCounts("retained")))
        }
        self.init(from: try o.time("from"), to: try o.time("to"), periods: try o.count("periods"),
                  by: try o.named("by", PatientsBreakdown.allCases, \.name), cohorts: cohorts)
    }
}

extension Projector {
    /// The cohorts report (SPEC §3.6) over every cluster, at `as_of = to − 1 ms`.
    ///
    /// - Throws: `ReportQueryError` when the months to follow are more than `ReportCalendar.maxBuckets`.
    package func cohorts(_ q: CohortsQuery) throws(ReportQueryError) -> CohortsReport {
        let cal = q.calendar
        // Cohort months: those starting in [from, to); then `periods` more to follow the last.
        var months = try cal.buckets(.month, from: q.from, to: q.to)
        if let first = months.first, first < q.from { months.removeFirst() }
        let cohortCount = months.count
        guard cohortCount > 0 else { return CohortsReport(from: q.from, to: q.to, periods: q.periods, by: q.by, cohorts: []) }
        for _ in 0..<q.periods { months.append(cal.next(.month, after: months[months.count - 1])) }

        struct Key: Hashable, Sendable { var month: Int; var value: Int64 }
        let periods = q.periods, monthStarts = months
        let types = ReportTypes([.visit])
        let visited = types.clusterMask
        let partials = scanSlots({ [Key: [Int]]() }) { p, out, slots in
            var seen = [Bool](repeating: false, count: periods)
            // A cohort member has a visit in a month starting at or after `from`: a cluster
            // without a visit, or whose latest event is before `from`, is passed over.
            for slot in slots where p.clusters[slot].isRoot && p.clusters[slot].hasAny(visited) && p.clusters[slot].lastAt >= q.from {
                // Only a cluster whose first visit falls in a cohort month counts: its first
                // visit is found on the way, and the months of the later ones then marked.
                var c = ClusterFigures(root: UInt32(slot))
                var m = -1, first = true
                for k in seen.indices { seen[k] = false }
                p.clusters[slot].scanForReport(upTo: q.to - 1, types: types, firstTouch: q.by != .none, settle: false, into: &c) { f in
                    if first {
                        first = false
                        m = ReportCalendar.index(of: f.at, in: monthStarts) ?? -1
                    }
                    guard m >= 0, m < cohortCount, let j = ReportCalendar.index(of: f.at, in: monthStarts) else { return }
                    let k = j - m
                    if k >= 0 && k < periods { seen[k] = true }
                }
                guard m >= 0, m < cohortCount else { continue }
                let key = Key(month: m, value: p.patientsKey(c, q.by))
                var row = out[key] ?? [Int](repeating: 0, count: periods + 1)
                row[0] += 1
                for k in seen.indices where seen[k] { row[k + 1] += 1 }
                out[key] = row
            }
        }
        var cohorts: [Key: [Int]] = [:]  // [size, retained k = 0…]
        for part in partials {
            for (key, row) in part {
                guard var sum = cohorts[key] else {
                    cohorts[key] = row
                    continue
                }
                for k in sum.indices { sum[k] += row[k] }
                cohorts[key] = sum
            }
        }
        var out: [(Key, CohortsReport.Cohort)] = []
        for (key, row) in cohorts {
            var retained: [Int?] = []
            for k in 0..<q.periods { retained.append(months[key.month + k] >= q.to ? nil : row[k + 1]) }
            out.append((key, .init(month: cal.monthName(months[key.month]), value: patientsValue(key.value, q.by),
                                   size: row[0], retained: retained)))
        }
        out.sort { a, b in a.0.month != b.0.month ? a.0.month < b.0.month : groupValueLess(a.1.value, b.1.value) }
        return CohortsReport(from: q.from, to: q.to, periods: q.periods, by: q.by, cohorts: out.map(\.1))
    }
}
