/// The booking property an appointments report is grouped by (SPEC §3.6).
public enum AppointmentsBreakdown: String, Sendable, Hashable, CaseIterable {
    /// The booking's channel (its own or its type's default, `web`).
    case channel
    /// The booking's `source`.
    case source
    /// The booking's `location`.
    case location
    /// The booking's `provider`.
    case provider
    /// No breakdown: one group.
    case none

    /// The name used in queries and reports.
    public var name: String { rawValue }

    /// Parses a breakdown name; nil when unknown.
    public init?(name: String) { self.init(rawValue: name) }
}

/// An appointments question (SPEC §3.6): the appointments scheduled in `[from, to)`, by a
/// property of their booking.
public struct AppointmentsQuery: Sendable, Hashable {
    /// The period's start (ms, inclusive).
    public private(set) var from: Int64
    /// The period's end (ms, exclusive); only events before it count.
    public private(set) var to: Int64
    /// The grouping.
    public var by: AppointmentsBreakdown

    /// A validated query: `from < to`.
    public init(from: Int64, to: Int64, by: AppointmentsBreakdown = .none) throws(ReportQueryError) {
        try ReportQueryError.checkPeriod(from: from, to: to)
        self.from = from
        self.to = to
        self.by = by
    }
}

/// The answer to an appointments question (SPEC §5).
public struct AppointmentsReport: Sendable, Hashable {
    /// The appointments whose booking had one value of the breakdown property.
    public struct Group: Sendable, Hashable {
        /// The property's value; nil when missing (and for `none`).
        public var value: String?
        /// Appointments scheduled in the period.
        public var appointments: Int
        /// Of those, with a visit as their outcome.
        public var visited: Int
        /// Of those, with a no-show as their outcome.
        public var noShow: Int
        /// Of those, with a cancellation as their outcome.
        public var cancelled: Int
        /// Of those, without an outcome.
        public var open: Int
        /// No-shows and cancellations followed by a booking of the cluster within 30 days.
        public var rebooked: Int
        /// The amounts of the visited appointments' earliest visits, in cents.
        public var revenueCents: Int64

        /// no_show / (visited + no_show); nil when both are 0.
        public var noShowRate: Double? { reportRate(noShow, visited + noShow) }
        /// cancelled / appointments; nil when there are none.
        public var cancellationRate: Double? { reportRate(cancelled, appointments) }
        /// rebooked / (no_show + cancelled); nil when both are 0.
        public var rebookRate: Double? { reportRate(rebooked, noShow + cancelled) }
    }

    /// The period's start (ms).
    public var from: Int64
    /// The period's end (ms, exclusive).
    public var to: Int64
    /// The grouping.
    public var by: AppointmentsBreakdown
    /// Groups by appointments, descending, then value bytes, null last.
    public var groups: [Group]

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
            w.key("appointments"); w.int(g.appointments)
            w.key("visited"); w.int(g.visited)
            w.key("no_show"); w.int(g.noShow)
            w.key("cancelled"); w.int(g.cancelled)
            w.key("open"); w.int(g.open)
            w.key("no_show_rate"); w.rate(g.noShowRate)
            w.key("cancellation_rate"); w.rate(g.cancellationRate)
            w.key("rebooked"); w.int(g.rebooked)
            w.key("rebook_rate"); w.rate(g.rebookRate)
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
                value: try g.optionalString("value"), appointments: try g.count("appointments"),
                visited: try g.count("visited"), noShow: try g.count("no_show"),
                cancelled: try g.count("cancelled"), open: try g.count("open"), rebooked: try g.count("rebooked"), revenueCents: try g.money("revenue")))
        }
        self.init(from: try o.time("from"), to: try o.time("to"),
                  by: try o.named("by", AppointmentsBreakdown.allCases, \.name), groups: groups)
    }

    /// A report from its members.
    public init(from: Int64, to: Int64, by: AppointmentsBreakdown, groups: [Group]) {
        self.from = from
        self.to = to
        self.by = by
        self.groups = groups
    }
}

extension JSONWriter {
    /// A rate, or `null`.
    package mutating func rate(_ r: Double?) {
        if let r { double(r) } else { null() }
    }
}

/// Window after a no-show or cancellation in which a booking counts as a rebooking (inclusive).
let rebookWindowMs: Int64 = 30 * 86_400_000

extension Projector {
    /// The appointments report (SPEC §3.6) over every cluster, at `as_of = to − 1 ms`.
    package func appointments(_ q: AppointmentsQuery) -> AppointmentsReport {
        struct Partial: Sendable {
            var index: [Int64: Int] = [:]
            var groups: [AppointmentsReport.Group] = []
            var keys: [Int64] = []
        }
        let types = ReportTypes([.booking, .visit, .noShow, .cancellation])
        // Only clusters with a booking can hold an appointment.
        let booked = ReportTypes([.booking]).clusterMask
        let partials = scanSlots({ Partial() }) { p, out, slots in
            // Per cluster: each appointment's earliest booking (its scheduled time and group)
            // and earliest outcome, by settled appointment token, and every booking's time.
            var booking = FirstByToken<(scheduledFor: Int64, key: Int64)>()
            var outcome = FirstByToken<(type: EventType, at: Int64, amountCents: Int64)>()
            var bookingTimes: [Int64] = []
            for slot in slots where p.clusters[slot].isRoot && p.clusters[slot].hasAny(booked) {
                booking.removeAll()
                outcome.removeAll()
                bookingTimes.removeAll(keepingCapacity: true)
                var c = ClusterFigures(root: UInt32(slot))
                p.clusters[slot].scanForReport(upTo: q.to - 1, types: types, firstTouch: false, settle: true, into: &c) { f in
                    if f.type == .booking { bookingTimes.append(f.at) }
                    guard f.appointment != 0 else { return }
                    if f.type == .booking {
                        booking.insertIfAbsent(f.appointment, (f.scheduledFor, p.appointmentsKey(f, q.by)))
                    } else {
                        outcome.insertIfAbsent(f.appointment, (f.type, f.at, f.amountCents))
                    }
                }
                for (token, bf) in booking.entries {
                    guard bf.scheduledFor != Fact.noTime, bf.scheduledFor >= q.from, bf.scheduledFor < q.to else { continue }
                    let key = bf.key
                    let g: Int
                    if let existing = out.index[key] {
                        g = existing
                    } else {
                        g = out.groups.count
                        out.index[key] = g
                        out.keys.append(key)
                        out.groups.append(.init(value: nil, appointments: 0, visited: 0, noShow: 0, cancelled: 0, open: 0, rebooked: 0, revenueCents: 0))
                    }
                    out.groups[g].appointments += 1
                    guard let of = outcome[token] else {
                        out.groups[g].open += 1
                        continue
                    }
                    switch of.type {
                    case .visit:
                        out.groups[g].visited += 1
                        let (sum, overflow) = out.groups[g].revenueCents.addingReportingOverflow(of.amountCents)
                        out.groups[g].revenueCents = overflow ? .max : sum
                    default:
                        if of.type == .noShow { out.groups[g].noShow += 1 } else { out.groups[g].cancelled += 1 }
                        let end = Int128(of.at) + Int128(rebookWindowMs)
                        if bookingTimes.contains(where: { $0 > of.at && Int128($0) <= end }) { out.groups[g].rebooked += 1 }
                    }
                }
            }
        }
        // The partials' groups, merged by key.
        var index: [Int64: Int] = [:]
        var groups: [AppointmentsReport.Group] = []
        for part in partials {
            for (i, key) in part.keys.enumerated() {
                let x = part.groups[i]
                guard let g = index[key] else {
                    index[key] = groups.count
                    groups.append(x)
                    groups[groups.count - 1].value = appointmentsValue(key, q.by)
                    continue
                }
                groups[g].appointments += x.appointments
                groups[g].visited += x.visited
                groups[g].noShow += x.noShow
                groups[g].cancelled += x.cancelled
                groups[g].open += x.open
                groups[g].rebooked += x.rebooked
                let (sum, overflow) = groups[g].revenueCents.addingReportingOverflow(x.revenueCents)
                groups[g].revenueCents = overflow ? .max : sum
            }
        }
        groups.sort { a, b in
            a.appointments != b.appointments ? a.appointments > b.appointments : groupValueLess(a.value, b.value)
        }
        return AppointmentsReport(from: q.from, to: q.to, by: q.by, groups: groups)
    }

    func appointmentsKey(_ f: Fact, _ by: AppointmentsBreakdown) -> Int64 {
        switch by {
        case .channel: f.channel == Fact.noChannel ? -1 : Int64(f.channel)
        case .source: f.source == 0 ? -1 : Int64(f.source)
        case .location: f.location == 0 ? -1 : Int64(f.location)
        case .provider: f.provider == 0 ? -1 : Int64(f.provider)
        case .none: -1
        }
    }

    private func appointmentsValue(_ key: Int64, _ by: AppointmentsBreakdown) -> String? {
        guard key >= 0 else { return nil }
        switch by {
        case .channel: return Channel(rawValue: UInt8(key))?.name
        case .none: return nil
        default: return values[UInt32(key)]
        }
    }
}

/// Values by settled inline token (one cluster's appointment ids), the first one put for a
/// token kept: a list searched in order while short, as most clusters' are, and hashed once long.
struct FirstByToken<Value> {
    /// The tokens and their values, in the order they were first put.
    private(set) var entries: [(token: UInt32, value: Value)] = []
    private var index: [UInt32: Int] = [:]
    /// Entries searched in order; more are found by hash.
    static var linearLimit: Int { 32 }

    /// Empties the table, keeping its storage.
    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        if !index.isEmpty { index.removeAll(keepingCapacity: true) }
    }

    private func find(_ token: UInt32) -> Int? {
        entries.count <= Self.linearLimit ? entries.firstIndex { $0.token == token } : index[token]
    }

    /// Puts `value` for `token` unless the token has one.
    mutating func insertIfAbsent(_ token: UInt32, _ value: Value) {
        guard find(token) == nil else { return }
        entries.append((token, value))
        if entries.count == Self.linearLimit + 1 {
            for (i, e) in entries.enumerated() { index[e.token] = i }
        } else if entries.count > Self.linearLimit + 1 {
            index[token] = entries.count - 1
        }
    }

    /// The value put first for `token`, nil when none was.
    subscript(_ token: UInt32) -> Value? { find(token).map { entries[$0].value } }
}
