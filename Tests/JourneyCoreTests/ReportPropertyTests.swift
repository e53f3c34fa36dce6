import Testing
@testable import JourneyCore

/// The practice reports are functions of the set of events: equal for any fold order, across a
/// snapshot, and equal to the naive reference computed from the raw event list.
@Suite("Practice report properties")
struct ReportPropertyTests {
    static let day = PJ.day
    static let t0 = PJ.t0

    /// Every report over a few periods, breakdowns and intervals, as text.
    static func answers(_ p: Projector) throws -> [String] {
        var out: [String] = []
        for (from, to) in periods {
            for by in AppointmentsBreakdown.allCases {
                out.append(p.appointments(try AppointmentsQuery(from: from, to: to, by: by)).json)
            }
            for by in PatientsBreakdown.allCases {
                out.append(p.patients(try PatientsQuery(from: from, to: to, by: by)).json)
                out.append(try p.cohorts(try CohortsQuery(from: from, to: to, periods: 4, by: by, calendar: ReportCalendar())).json)
            }
            for q in try trendQueries(from, to) { out.append(try p.trends(q).json) }
        }
        for asOf in asOfs {
            out.append(p.referrals(asOf: asOf, limit: 1000).json)
            for q in try segmentQueries(asOf) { out.append(p.segment(q).json) }
        }
        return out
    }

    static let periods: [(Int64, Int64)] = [
        (t0, t0 + 400 * day), (t0 + 31 * day, t0 + 90 * day), (t0 + 100 * day + 12_345, t0 + 130 * day + 999),
        (t0 + 390 * day, t0 + 500 * day),
    ]
    static let asOfs: [Int64] = [t0 + 20 * day, t0 + 200 * day + 7, t0 + 1000 * day]

    static func trendQueries(_ from: Int64, _ to: Int64) throws -> [TrendsQuery] {
        var out: [TrendsQuery] = []
        let steps: [TrendStep] = [.touch, .inquiry, .contact, .type(.visit)]
        for (i, interval) in ReportInterval.allCases.enumerated() {
            for by in TrendsBreakdown.allCases {
                out.append(try TrendsQuery(step: steps[(i + by.name.count) % steps.count], interval: interval, from: from, to: to,
                                           by: by, unique: by.name.count % 2 == 0, calendar: ReportCalendar()))
            }
        }
        return out
    }

    static func segmentQueries(_ asOf: Int64) throws -> [SegmentQuery] {
        let filters: [SegmentFilters] = [
            SegmentFilters(),
            SegmentFilters(stage: [.active, .lapsed]),
            SegmentFilters(risk: [.noShowNotRebooked, .cancelledNotRebooked]),
            SegmentFilters(acquisitionChannel: .web),
            SegmentFilters(source: "google"),
            SegmentFilters(campaign: "spring"),
            SegmentFilters(minVisits: 2, maxVisits: 4),
            SegmentFilters(lastVisitBefore: t0 + 150 * day, lastVisitAfter: t0 + 30 * day),
            SegmentFilters(minValueCents: 40_000),
            SegmentFilters(referred: true),
            SegmentFilters(stage: [.active], minVisits: 1, referred: false),
            SegmentFilters(consent: .sms),
            SegmentFilters(attrs: [.init(key: "language", value: "es")]),
            SegmentFilters(consent: .email, attrs: [.init(key: "payer", value: "delta"), .init(key: "é", value: "")]),
        ]
        var out: [SegmentQuery] = []
        for f in filters {
            out.append(try SegmentQuery(asOf: asOf, filters: f, limit: 1000))
            out.append(try SegmentQuery(asOf: asOf, filters: f, limit: 3, after: "p1"))
        }
        return out
    }

    static func referenceAnswers(_ events: [Event]) throws -> [String] {
        let r = ReportReference(events)
        var out: [String] = []
        for (from, to) in periods {
            for by in AppointmentsBreakdown.allCases {
                out.append(r.appointments(try AppointmentsQuery(from: from, to: to, by: by)).json)
            }
            for by in PatientsBreakdown.allCases {
                out.append(r.patients(try PatientsQuery(from: from, to: to, by: by)).json)
                out.append(r.cohorts(try CohortsQuery(from: from, to: to, periods: 4, by: by, calendar: ReportCalendar())).json)
            }
            for q in try trendQueries(from, to) { out.append(r.trends(q).json) }
        }
        for asOf in asOfs {
            out.append(r.referrals(asOf: asOf, limit: 1000).json)
            for q in try segmentQueries(asOf) { out.append(r.segment(q).json) }
        }
        return out
    }

    static func expectSame(_ a: [String], _ b: [String], _ what: String) {
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) where x != y {
            Issue.record("\(what): \(x)\n  vs \(y)")
            return
        }
    }

    @Test(arguments: [(41, false), (42, false), (43, false), (44, true)] as [(UInt64, Bool)])
    func matchesTheReferenceInAnyFoldOrder(seed: UInt64, dense: Bool) throws {
        let events = PropertyPractice.make(seed: seed, patients: 80, dense: dense)
        let folded = try Self.answers(PJ.fold(events))
        Self.expectSame(folded, try Self.referenceAnswers(events), "reference")
        Self.expectSame(try Self.answers(PJ.fold(events.sorted(by: Event.timelineLess))), folded, "replay in timeline order")
        var rng = PropertyPractice.RNG(state: seed &* 7)
        Self.expectSame(try Self.answers(PJ.fold(events.shuffled(using: &rng))), folded, "shuffled")
        let cut = events.count / 2
        var restored = try Projector(deserializing: PJ.fold(Array(events[..<cut])).serialize())
        for e in events[cut...] { restored.apply(e) }
        // Clusters an unlink split are rebuilt by the events' owner (here, from memory), as the
        // engine does from the log.
        restored.resolveSplits(from: events)
        Self.expectSame(try Self.answers(restored), folded, "split across a snapshot")
    }

    /// Folded one event at a time, as a store folds them (identify merges, unlink splits and
    /// late events as they come), with the clusters scanned over every core, the reports
    /// match the reference of the events so far at points along the way.
    @Test(arguments: [(45, false), (46, true)] as [(UInt64, Bool)])
    func incrementalFoldMatchesTheReferenceAlongTheWay(seed: UInt64, dense: Bool) throws {
        let events = PropertyPractice.make(seed: seed, patients: 50, dense: dense)
        #expect(events.contains { $0.type == .unlink } && events.contains { $0.type == .identify })
        var p = Projector()
        p.reportScanParallelMinimum = 1
        let step = max(1, events.count / 5)
        for (i, e) in events.enumerated() {
            p.apply(e)
            p.resolveSplits(from: events[...i])
            guard (i + 1) % step == 0 || i == events.count - 1 else { continue }
            Self.expectSame(try Self.answers(p), try Self.referenceAnswers(Array(events[...i])), "after \(i + 1) events")
        }
    }

    /// The reports are not all empty on these practices (so the comparison above compares something).
    @Test func thePracticesFillTheReports() throws {
        let p = PJ.fold(PropertyPractice.make(seed: 41, patients: 80))
        let (from, to) = Self.periods[0]
        let a = p.appointments(try AppointmentsQuery(from: from, to: to))
        #expect(a.groups.count == 1 && a.groups[0].appointments > 10 && a.groups[0].noShow > 0 && a.groups[0].rebooked > 0)
        let pt = p.patients(try PatientsQuery(from: Self.periods[1].0, to: Self.periods[1].1))
        #expect(pt.groups.first.map { $0.new > 0 && $0.activeAtStart > 0 } == true)
        let c = try p.cohorts(try CohortsQuery(from: from, to: to, periods: 4, calendar: ReportCalendar()))
        #expect(c.cohorts.count > 5 && c.cohorts.contains { ($0.retained[1] ?? 0) > 0 })
        #expect(p.referrals(asOf: Self.asOfs[2], limit: 1000).referrers.count > 3)
        #expect(p.segment(try SegmentQuery(asOf: Self.asOfs[1], filters: SegmentFilters(referred: true))).total > 0)
        #expect(p.segment(try SegmentQuery(asOf: Self.asOfs[2], filters: SegmentFilters(consent: .sms))).total > 0)
        #expect(p.segment(try SegmentQuery(asOf: Self.asOfs[2], filters: SegmentFilters(attrs: [.init(key: "language", value: "es")]))).total > 0)
    }
}
