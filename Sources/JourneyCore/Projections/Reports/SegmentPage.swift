/// The filters of a segment (SPEC §3.6): a cluster is listed when its journey state at `as_of`
/// meets every filter given (nil: not filtered on).
public struct SegmentFilters: Sendable, Hashable {
    /// Any of these stages.
    public var stage: [Stage]?
    /// Has any of these risk flags.
    public var risk: [Risk]?
    /// The first touch's channel.
    public var acquisitionChannel: Channel?
    /// The first touch's `source`.
    public var source: String?
    /// The first touch's `campaign`.
    public var campaign: String?
    /// At least this many visits.
    public var minVisits: Int?
    /// At most this many visits.
    public var maxVisits: Int?
    /// The latest visit is before this instant (ms); a cluster without visits is left out.
    public var lastVisitBefore: Int64?
    /// The latest visit is after this instant (ms); a cluster without visits is left out.
    public var lastVisitAfter: Int64?
    /// A lifetime value of at least this many cents.
    public var minValueCents: Int64?
    /// Referred by another patient (true) or not (false).
    public var referred: Bool?
    /// The latest `consent` event on this channel is `granted`.
    public var consent: Channel?
    /// For each entry, the latest event whose attrs have its key has its value.
    public var attrs: [Event.Attr]?

    /// No filter: every cluster with an event at or before `as_of`.
    public init(stage: [Stage]? = nil, risk: [Risk]? = nil, acquisitionChannel: Channel? = nil, source: String? = nil,
                campaign: String? = nil, minVisits: Int? = nil, maxVisits: Int? = nil, lastVisitBefore: Int64? = nil,
                lastVisitAfter: Int64? = nil, minValueCents: Int64? = nil, referred: Bool? = nil,
                consent: Channel? = nil, attrs: [Event.Attr]? = nil) {
        self.stage = stage
        self.risk = risk
        self.acquisitionChannel = acquisitionChannel
        self.source = source
        self.campaign = campaign
        self.minVisits = minVisits
        self.maxVisits = maxVisits
        self.lastVisitBefore = lastVisitBefore
        self.lastVisitAfter = lastVisitAfter
        self.minValueCents = minValueCents
        self.referred = referred
        self.consent = consent
        self.attrs = attrs
    }
}

/// A segment question: the filters, `as_of`, and the page (by canonical id after `after`).
public struct SegmentQuery: Sendable, Hashable {
    /// The page size when the query names none.
    public static let defaultLimit = 100

    /// The instant of evaluation (ms).
    public var asOf: Int64
    /// What a listed cluster meets.
    public var filters: SegmentFilters
    /// The page size, 1 to 10000.
    public private(set) var limit: Int
    /// The `next` cursor of the previous page.
    public var after: String?

    /// A validated query: `limit` 1 to 10000, `min_visits ≤ max_visits`, counts ≥ 0.
    public init(asOf: Int64, filters: SegmentFilters = SegmentFilters(), limit: Int = SegmentQuery.defaultLimit,
                after: String? = nil) throws(ReportQueryError) {
        try ReportQueryError.checkLimit(limit)
        if let n = filters.minVisits, n < 0 { throw ReportQueryError(field: "min_visits", "must be ≥ 0, got \(n)") }
        if let n = filters.maxVisits, n < 0 { throw ReportQueryError(field: "max_visits", "must be ≥ 0, got \(n)") }
        if let a = filters.minVisits, let b = filters.maxVisits, a > b {
            throw ReportQueryError(field: "max_visits", "must be ≥ min_visits (\(a)), got \(b)")
        }
        if let v = filters.minValueCents, v < 0 { throw ReportQueryError(field: "min_value", "must be ≥ 0") }
        self.asOf = asOf
        self.filters = filters
        self.limit = limit
        self.after = after
    }
}

/// One page of a segment (SPEC §5): the list a campaign is sent to.
public struct SegmentPage: Sendable, Hashable {
    /// One listed patient.
    public struct Entry: Sendable, Hashable {
        /// The canonical id.
        public var patient: String
        /// The journey stage at `as_of`.
        public var stage: Stage
        /// The risk flags that hold at `as_of`.
        public var risk: [Risk]
        /// Visits at or before `as_of`.
        public var visits: Int
        /// The latest of them (ms).
        public var lastVisitAt: Int64?
        /// The sum of their amounts, in cents.
        public var lifetimeValueCents: Int64
        /// The first touch's channel.
        public var acquisitionChannel: Channel?
    }

    /// The instant of evaluation (ms).
    public var asOf: Int64
    /// The clusters meeting the filters, on every page.
    public var total: Int
    /// This page, sorted by canonical id bytes.
    public var patients: [Entry]
    /// The `after` cursor of the following page; nil on the last page.
    public var next: String?

    /// A page from its members.
    public init(asOf: Int64, total: Int, patients: [Entry], next: String?) {
        self.asOf = asOf
        self.total = total
        self.patients = patients
        self.next = next
    }

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("as_of"); w.time(ms: asOf)
        w.key("total"); w.int(total)
        w.key("patients")
        w.beginArray()
        for p in patients {
            w.beginObject()
            w.key("patient"); w.string(p.patient)
            w.key("stage"); w.string(p.stage.name)
            w.key("risk"); w.beginArray(); for r in p.risk { w.string(r.name) }; w.endArray()
            w.key("visits"); w.int(p.visits)
            w.key("last_visit_at"); w.time(ms: p.lastVisitAt)
            w.key("lifetime_value"); w.money(cents: p.lifetimeValueCents)
            w.key("acquisition_channel"); w.string(p.acquisitionChannel?.name)
            w.endObject()
        }
        w.endArray()
        w.key("next"); w.string(next)
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
        var patients: [Entry] = []
        for p in try o.objects("patients") {
            patients.append(Entry(
                patient: try p.string("patient"), stage: try p.named("stage", Stage.allCases, \.name),
                risk: try p.namedList("risk", Risk.allCases, \.name), visits: try p.count("visits"),
                lastVisitAt: try p.optionalTime("last_visit_at"), lifetimeValueCents: try p.money("lifetime_value"),
                acquisitionChannel: try p.optionalNamed("acquisition_channel", Channel.allCases, \.name)))
        }
        self.init(asOf: try o.time("as_of"), total: try o.count("total"), patients: patients, next: try o.optionalString("next"))
    }
}

extension Projector {
    /// The clusters meeting `q.filters` at `q.asOf`, one page by canonical id after `q.after`;
    /// `total` counts every page.
    package func segment(_ q: SegmentQuery) -> SegmentPage {
        let f = q.filters
        // A source or campaign no event has matches no cluster (`.some(nil)`).
        let source = f.source.map { values.lookup($0) }
        let campaign = f.campaign.map { values.lookup($0) }
        var total = 0
        var page: [(name: String, entry: SegmentPage.Entry)] = []
        forEachClusterAsOf(q.asOf) { c in
            if let n = f.minVisits, c.visits < n { return }
            if let n = f.maxVisits, c.visits > n { return }
            if let t = f.lastVisitBefore { guard let last = c.lastVisitAt, last < t else { return } }
            if let t = f.lastVisitAfter { guard let last = c.lastVisitAt, last > t else { return } }
            if let v = f.minValueCents, c.lifetimeValueCents < v { return }
            if let r = f.referred, r != (c.referrerRoot != Fact.none) { return }
            let first = c.firstTouch >= 0 ? c.facts[c.firstTouch] : nil
            if let ch = f.acquisitionChannel, first?.channel != ch.rawValue { return }
            if let s = source { guard let s, let first, first.source == s else { return } }
            if let s = campaign { guard let s, let first, first.campaign == s else { return } }
            let stage = c.stage(asOf: q.asOf)
            if let stages = f.stage, !stages.contains(stage) { return }
            let risk = c.risk(asOf: q.asOf)
            if let wanted = f.risk, !risk.contains(where: wanted.contains) { return }
            if let channel = f.consent, consent(c.facts)[channel] != ConsentStatus.granted.name { return }
            if let attrs = f.attrs, !attrs.allSatisfy({ latestAttr(c.facts, $0.key) == $0.value }) { return }
            total += 1
            let name = canonicalName(c.root)
            if let after = q.after, !after.bytesLess(name) { return }
            page.append((name, .init(
                patient: name, stage: stage, risk: risk, visits: c.visits, lastVisitAt: c.lastVisitAt,
                lifetimeValueCents: c.lifetimeValueCents, acquisitionChannel: first.flatMap { $0.effectiveChannel })))
        }
        page.sort { $0.name.bytesLess($1.name) }
        let more = page.count > q.limit
        let entries = page.prefix(q.limit).map(\.entry)
        return SegmentPage(asOf: q.asOf, total: total, patients: Array(entries), next: more ? entries.last?.patient : nil)
    }

    /// The value of `key` in the latest of `facts` whose attrs have it; nil when none has.
    func latestAttr(_ facts: [Fact], _ key: String) -> String? {
        for f in facts.reversed() where f.attrs != 0 {
            let attrs = values.withBytes(f.attrs) { AttrsText.decode($0) }
            if let a = attrs.first(where: { $0.key == key }) { return a.value }
        }
        return nil
    }
}

extension SegmentFilters {
    /// An amount written with at most two decimals (`120.5`, `120.50`, `120`) as cents; nil for
    /// anything else (a sign, an exponent, more decimals, an overflow).
    package static func cents(_ literal: String) -> Int64? {
        guard literal.first != "-", literal.first != "+" else { return nil }
        return JSONFields.cents(literal)
    }
}
