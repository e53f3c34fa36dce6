@testable import JourneyCore

/// A deliberately naive reference for the practice reports of SPEC §3.6, computed from the raw
/// event list (clusters from `PropertyReference`), with UTC calendar arithmetic of its own.
struct ReportReference {
    let base: PropertyReference
    static let day: Int64 = 86_400_000

    init(_ events: [Event]) { base = PropertyReference(events) }

    /// Cluster timelines as they stood at `asOf`; clusters without events then are empty.
    func timelines(asOf: Int64) -> [[Event]] { base.timelines.map { $0.filter { $0.at <= asOf } } }

    /// The reference with timelines cut at `asOf` (for its stage and risk rules).
    func cut(_ asOf: Int64) -> PropertyReference {
        var r = base
        r.timelines = timelines(asOf: asOf)
        return r
    }

    func referredBy(_ tl: [Event]) -> Int? {
        tl.first { $0.type == .referral && $0.referrer != nil }.map { base.clusterOf[$0.referrer!]! }
    }

    static func sortGroups<G>(_ groups: inout [G], _ count: (G) -> Int, _ value: (G) -> String?) {
        groups.sort { a, b in
            if count(a) != count(b) { return count(a) > count(b) }
            switch (value(a), value(b)) {
            case let (x?, y?): return x.utf8.lexicographicallyPrecedes(y.utf8)
            case (_?, nil): return true
            default: return false
            }
        }
    }

    // MARK: UTC calendar

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// (year, month) of a day number since 1970-01-01 (Howard Hinnant's civil_from_days).
    static func civil(_ days: Int64) -> (Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m)
    }

    /// Day number of the first of a month (days_from_civil).
    static func daysFromCivil(_ y0: Int64, _ m: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func bucketStart(_ interval: ReportInterval, _ ms: Int64) -> Int64 {
        let d = floorDiv(ms, day)
        switch interval {
        case .day: return d * day
        case .week: return (d - (((d + 3) % 7) + 7) % 7) * day  // 1970-01-01 was a Thursday
        case .month:
            let (y, m) = civil(d)
            return daysFromCivil(y, m) * day
        }
    }

    static func nextBucket(_ interval: ReportInterval, _ start: Int64) -> Int64 {
        switch interval {
        case .day: return start + day
        case .week: return start + 7 * day
        case .month:
            let (y, m) = civil(floorDiv(start, day))
            return daysFromCivil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1) * day
        }
    }

    static func monthName(_ ms: Int64) -> String {
        let (y, m) = civil(floorDiv(ms, day))
        return "\(y)-" + (m < 10 ? "0\(m)" : "\(m)")
    }

    // MARK: reports

    func appointments(_ q: AppointmentsQuery) -> AppointmentsReport {
        var groups: [String?: AppointmentsReport.Group] = [:]
        for tl in timelines(asOf: q.to - 1) {
            let ids = Set(tl.compactMap { $0.type == .booking ? $0.appointment : nil })
            for id in ids {
                let booking = tl.first { $0.type == .booking && $0.appointment == id }!
                guard let s = booking.scheduledFor, s >= q.from, s < q.to else { continue }
                let value: String? = switch q.by {
                case .channel: booking.effectiveChannel?.name
                case .source: booking.source
                case .location: booking.location
                case .provider: booking.provider
                case .none: nil
                }
                var g = groups[value] ?? .init(value: value, appointments: 0, visited: 0, noShow: 0, cancelled: 0, open: 0, rebooked: 0, revenueCents: 0)
                g.appointments += 1
                let outcome = tl.first { [.visit, .noShow, .cancellation].contains($0.type) && $0.appointment == id }
                if let o = outcome {
                    if o.type == .visit {
                        g.visited += 1
                        g.revenueCents += o.amountCents ?? 0
                    } else {
                        if o.type == .noShow { g.noShow += 1 } else { g.cancelled += 1 }
                        if tl.contains(where: { $0.type == .booking && $0.at > o.at && $0.at <= o.at + 30 * ReportReference.day }) {
                            g.rebooked += 1
                        }
                    }
                } else {
                    g.open += 1
                }
                groups[value] = g
            }
        }
        var list = Array(groups.values)
        ReportReference.sortGroups(&list, \.appointments, \.value)
        return AppointmentsReport(from: q.from, to: q.to, by: q.by, groups: list)
    }

    func patientsValue(_ tl: [Event], _ by: PatientsBreakdown) -> String? {
        let first = tl.first { $0.type.isTouch }
        return switch by {
        case .acquisitionChannel: first?.effectiveChannel?.name
        case .source: first?.source
        case .none: nil
        }
    }

    func patients(_ q: PatientsQuery) -> PatientsReport {
        let asOf = q.to - 1
        let r = cut(asOf)
        var groups: [String?: PatientsReport.Group] = [:]
        for (c, tl) in r.timelines.enumerated() where !tl.isEmpty {
            let visits = tl.filter { $0.type == .visit }
            let inPeriod = visits.filter { $0.at >= q.from }
            let isNew = visits.first.map { $0.at >= q.from } ?? false
            let active = visits.contains { $0.at >= q.from - 365 * ReportReference.day && $0.at < q.from }
            let lapsed = r.stageAndRisk(c, asOf: asOf).0 == .lapsed
            guard isNew || active || lapsed || !inPeriod.isEmpty else { continue }
            let value = patientsValue(tl, q.by)
            var g = groups[value] ?? .init(value: value, new: 0, referredNew: 0, activeAtStart: 0, retained: 0, lapsed: 0, visits: 0, revenueCents: 0)
            if isNew { g.new += 1; if referredBy(tl) != nil { g.referredNew += 1 } }
            if active { g.activeAtStart += 1; if !inPeriod.isEmpty { g.retained += 1 } }
            if lapsed { g.lapsed += 1 }
            g.visits += inPeriod.count
            g.revenueCents += inPeriod.reduce(0) { $0 + ($1.amountCents ?? 0) }
            groups[value] = g
        }
        var list = Array(groups.values)
        ReportReference.sortGroups(&list, \.new, \.value)
        return PatientsReport(from: q.from, to: q.to, by: q.by, groups: list)
    }

    /// UTC only.
    func cohorts(_ q: CohortsQuery) -> CohortsReport {
        struct Key: Hashable { var month: Int64; var value: String? }
        var cohorts: [Key: CohortsReport.Cohort] = [:]
        for tl in timelines(asOf: q.to - 1) {
            guard let first = tl.first(where: { $0.type == .visit }) else { continue }
            let month = ReportReference.bucketStart(.month, first.at)
            guard month >= q.from, month < q.to else { continue }
            let key = Key(month: month, value: patientsValue(tl, q.by))
            var c = cohorts[key] ?? .init(month: ReportReference.monthName(month), value: key.value, size: 0, retained: [])
            if c.retained.isEmpty {
                var start = month
                for _ in 0..<q.periods {
                    c.retained.append(start >= q.to ? nil : 0)
                    start = ReportReference.nextBucket(.month, start)
                }
            }
            c.size += 1
            var start = month
            for k in 0..<q.periods {
                let end = ReportReference.nextBucket(.month, start)
                if c.retained[k] != nil, tl.contains(where: { $0.type == .visit && $0.at >= start && $0.at < end }) {
                    c.retained[k]! += 1
                }
                start = end
            }
            cohorts[key] = c
        }
        let list = cohorts.sorted { a, b in
            if a.key.month != b.key.month { return a.key.month < b.key.month }
            switch (a.key.value, b.key.value) {
            case let (x?, y?): return x.utf8.lexicographicallyPrecedes(y.utf8)
            case (_?, nil): return true
            default: return false
            }
        }.map(\.value)
        return CohortsReport(from: q.from, to: q.to, periods: q.periods, by: q.by, cohorts: list)
    }

    /// UTC only.
    func trends(_ q: TrendsQuery) -> TrendsReport {
        var buckets: [Int64] = []
        var s = ReportReference.bucketStart(q.interval, q.from)
        while s < q.to { buckets.append(s); s = ReportReference.nextBucket(q.interval, s) }
        func matches(_ e: Event) -> Bool {
            switch q.step {
            case .touch: e.type.isTouch
            case .inquiry: e.isInquiry
            case .contact: [.call, .chat, .form].contains(e.type)
            case .type(let t): e.type == t
            }
        }
        func value(_ e: Event) -> String? {
            switch q.by {
            case .channel: e.effectiveChannel?.name
            case .source: e.source
            case .medium: e.medium
            case .campaign: e.campaign
            case .term: e.term
            case .type: e.type.name
            case .location: e.location
            case .provider: e.provider
            case .none: nil
            }
        }
        // value → per bucket, the clusters (or events) counted.
        var events: [String?: [Int]] = [:]
        var clusters: [String?: [Set<Int>]] = [:]
        var totalClusters: [String?: Set<Int>] = [:]
        for (c, tl) in timelines(asOf: q.to - 1).enumerated() {
            for e in tl where e.at >= q.from && e.at < q.to && matches(e) {
                let b = buckets.lastIndex { $0 <= e.at }!
                let v = value(e)
                events[v, default: [Int](repeating: 0, count: buckets.count)][b] += 1
                clusters[v, default: [Set<Int>](repeating: [], count: buckets.count)][b].insert(c)
                totalClusters[v, default: []].insert(c)
            }
        }
        var groups: [TrendsReport.Group] = []
        for (v, counts) in events {
            groups.append(q.unique
                ? .init(value: v, counts: clusters[v]!.map(\.count), total: totalClusters[v]!.count)
                : .init(value: v, counts: counts, total: counts.reduce(0, +)))
        }
        ReportReference.sortGroups(&groups, \.total, \.value)
        return TrendsReport(step: q.step.name, interval: q.interval, by: q.by, unique: q.unique, buckets: buckets, groups: groups)
    }

    func referrals(asOf: Int64, limit: Int) -> ReferralsReport {
        let tls = timelines(asOf: asOf)
        func ltv(_ tl: [Event]) -> Int64 { tl.filter { $0.type == .visit }.reduce(0) { $0 + ($1.amountCents ?? 0) } }
        var referrers: [ReferralsReport.Referrer] = []
        for r in tls.indices {
            let referred = tls.indices.filter { $0 != r && !tls[$0].isEmpty && referredBy(tls[$0]) == r }
            guard !referred.isEmpty else { continue }
            referrers.append(.init(patient: base.canonical[r], referred: referred.count,
                                   converted: referred.filter { tls[$0].contains { $0.type == .visit } }.count,
                                   revenueCents: referred.reduce(0) { $0 + ltv(tls[$1]) }))
        }
        referrers.sort { a, b in
            a.referred != b.referred ? a.referred > b.referred
                : a.converted != b.converted ? a.converted > b.converted
                : a.patient.utf8.lexicographicallyPrecedes(b.patient.utf8)
        }
        let visited = tls.filter { $0.contains { $0.type == .visit } }
        let referred = visited.filter { referredBy($0) != nil }.map(ltv)
        let direct = visited.filter { referredBy($0) == nil }.map(ltv)
        func mean(_ xs: [Int64]) -> Int64? {
            guard !xs.isEmpty else { return nil }
            let sum = xs.reduce(0, +), n = Int64(xs.count)
            let whole = sum / n, rest = sum % n
            return 2 * rest >= n ? whole + 1 : whole  // half-up
        }
        return ReferralsReport(asOf: asOf, referrers: Array(referrers.prefix(limit)), summary: .init(
            referredPatients: referred.count, directPatients: direct.count,
            referredAvgValueCents: mean(referred), directAvgValueCents: mean(direct)))
    }

    func segment(_ q: SegmentQuery) -> SegmentPage {
        let r = cut(q.asOf)
        let f = q.filters
        var all: [SegmentPage.Entry] = []
        for (c, tl) in r.timelines.enumerated() where !tl.isEmpty {
            let visits = tl.filter { $0.type == .visit }
            let first = tl.first { $0.type.isTouch }
            let (stage, risk) = r.stageAndRisk(c, asOf: q.asOf)
            let ltv = visits.reduce(0) { $0 + ($1.amountCents ?? 0) }
            if let s = f.stage, !s.contains(stage) { continue }
            if let x = f.risk, !risk.contains(where: x.contains) { continue }
            if let ch = f.acquisitionChannel, first?.effectiveChannel != ch { continue }
            if let s = f.source, first?.source != s { continue }
            if let s = f.campaign, first?.campaign != s { continue }
            if let n = f.minVisits, visits.count < n { continue }
            if let n = f.maxVisits, visits.count > n { continue }
            if let t = f.lastVisitBefore, !(visits.last.map { $0.at < t } ?? false) { continue }
            if let t = f.lastVisitAfter, !(visits.last.map { $0.at > t } ?? false) { continue }
            if let v = f.minValueCents, ltv < v { continue }
            if let x = f.referred, x != (referredBy(tl) != nil) { continue }
            if let ch = f.consent, tl.last(where: { $0.type == .consent && $0.effectiveChannel == ch })?.consentStatus != .granted {
                continue
            }
            if let attrs = f.attrs, !attrs.allSatisfy({ a in
                tl.last(where: { $0.attrs.contains { $0.key == a.key } })?.attrs.first { $0.key == a.key }?.value == a.value
            }) { continue }
            all.append(.init(patient: base.canonical[c], stage: stage, risk: risk, visits: visits.count,
                             lastVisitAt: visits.last?.at, lifetimeValueCents: ltv, acquisitionChannel: first?.effectiveChannel))
        }
        all.sort { $0.patient.utf8.lexicographicallyPrecedes($1.patient.utf8) }
        let rest = all.filter { e in q.after.map { a in a.utf8.lexicographicallyPrecedes(e.patient.utf8) } ?? true }
        let page = Array(rest.prefix(q.limit))
        return SegmentPage(asOf: q.asOf, total: all.count, patients: page, next: rest.count > q.limit ? page.last?.patient : nil)
    }
}
