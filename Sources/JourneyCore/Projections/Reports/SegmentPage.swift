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
        // Risk, consent and attrs need the cluster's facts; the other filters its figures.
        let needsFacts = f.risk != nil || f.consent != nil || f.attrs != nil
        let after = q.after.map { Array($0.utf8) }
        struct Partial: Sendable {
            var total = 0
            /// Slots of the matching clusters whose canonical id sorts after `after`.
            var slots: [UInt32] = []
        }
        let figuresOnly = ReportTypes([])
        // Types a cluster must have to meet the filters (none listed: any cluster may): a visit for the
        // visit and value filters and for stages that need one, a referral for `referred`.
        var neededTypes: [UInt32] = []
        let visitStages: Set<Stage> = [.active, .lapsed]
        if (f.minVisits ?? 0) >= 1 || f.lastVisitBefore != nil || f.lastVisitAfter != nil || (f.minValueCents ?? 0) > 0
            || f.stage.map({ !$0.isEmpty && $0.allSatisfy(visitStages.contains) }) == true {
            neededTypes.append(ReportTypes([.visit]).clusterMask)
        }
        if f.referred == true { neededTypes.append(ReportTypes([.referral]).clusterMask) }
        let needed = neededTypes
        let partials = scanSlots({ Partial() }) { p, out, slots in
            for slot in slots where p.clusters[slot].isRoot && needed.allSatisfy(p.clusters[slot].hasAny) {
                var c = ClusterFigures(root: UInt32(slot))
                p.clusters[slot].scanForReport(upTo: q.asOf, types: figuresOnly, firstTouch: true, settle: false, into: &c) { _ in }
                guard c.records > 0 else { continue }
                if let n = f.minVisits, c.visits < n { continue }
                if let n = f.maxVisits, c.visits > n { continue }
                if let t = f.lastVisitBefore { guard let last = c.lastVisit, last < t else { continue } }
                if let t = f.lastVisitAfter { guard let last = c.lastVisit, last > t else { continue } }
                if let v = f.minValueCents, c.lifetimeValueCents < v { continue }
                if let r = f.referred, r != (c.referrer != Fact.none) { continue }
                let first = c.firstTouch
                if let ch = f.acquisitionChannel, first?.channel != ch.rawValue { continue }
                if let s = source { guard let s, let first, first.source == s else { continue } }
                if let s = campaign { guard let s, let first, first.campaign == s else { continue } }
                if let stages = f.stage, !stages.contains(c.stage(asOf: q.asOf)) { continue }
                if needsFacts, let full = p.clusterAsOf(UInt32(slot), q.asOf) {
                    if let wanted = f.risk, !full.risk(asOf: q.asOf).contains(where: wanted.contains) { continue }
                    if let channel = f.consent, p.consent(full.facts)[channel] != ConsentStatus.granted.name { continue }
                    if let attrs = f.attrs, !attrs.allSatisfy({ p.latestAttr(full.facts, $0.key) == $0.value }) { continue }
                }
                out.total += 1
                if let after {
                    let later = p.ids.withBytes(p.clusters[slot].canonical) { name in
                        after.withUnsafeBytes { Interner.bytesLess($0, name) }
                    }
                    if !later { continue }
                }
                out.slots.append(UInt32(slot))
            }
        }
        let total = partials.reduce(0) { $0 + $1.total }
        // The first `limit` + 1 by canonical id (one more tells whether a next page exists).
        let chosen = ids.withStrings { names in
            let canonical = { (slot: UInt32) in names[self.clusters[Int(slot)].canonical] }
            return Projector.smallest(q.limit + 1, of: partials.flatMap(\.slots)) { a, b in
                Interner.bytesLess(canonical(a), canonical(b))
            }
        }
        var entries: [SegmentPage.Entry] = []
        for slot in chosen.prefix(q.limit) {
            let c = clusterAsOf(slot, q.asOf)!
            let first = c.firstTouch >= 0 ? c.facts[c.firstTouch] : nil
            entries.append(.init(
                patient: canonicalName(slot), stage: c.stage(asOf: q.asOf), risk: c.risk(asOf: q.asOf), visits: c.visits,
                lastVisitAt: c.lastVisitAt, lifetimeValueCents: c.lifetimeValueCents, acquisitionChannel: first.flatMap { $0.effectiveChannel }))
        }
        return SegmentPage(asOf: q.asOf, total: total, patients: entries, next: chosen.count > q.limit ? entries.last?.patient : nil)
    }

    /// The `k` least of `items` by `less`, sorted: a bounded max-heap over one pass, so a page
    /// of a long list costs about one comparison per item.
    static func smallest(_ k: Int, of items: [UInt32], by less: (UInt32, UInt32) -> Bool) -> [UInt32] {
        guard items.count > k else { return items.sorted(by: less) }
        var heap: [UInt32] = []
        heap.reserveCapacity(k)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var top = i
                if l < heap.count, less(heap[top], heap[l]) { top = l }
                if r < heap.count, less(heap[top], heap[r]) { top = r }
                if top == i { return }
                heap.swapAt(i, top)
                i = top
            }
        }
        for x in items {
            if heap.count < k {
                heap.append(x)
                var i = heap.count - 1
                while i > 0, less(heap[(i - 1) / 2], heap[i]) {
                    heap.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if k > 0, less(x, heap[0]) {
                heap[0] = x
                siftDown(0)
            }
        }
        return heap.sorted(by: less)
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
