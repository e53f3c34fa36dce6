import Testing
@testable import JourneyCore

private let day = PJ.day
/// 2026-01-01T00:00:00Z, a Thursday.
private let t0 = PJ.t0
/// 2026-01-05T00:00:00Z, a Monday.
private let monday = t0 + 4 * day
private let utc = try! ReportCalendar()

/// The practice reports of SPEC §3.6 on small journeys whose answers are computed by hand,
/// at the boundaries of every rule.
@Suite("Practice reports")
struct ReportTests {

    static func booking(_ id: String, _ subject: String, _ at: Int64, appointment: String, scheduledFor: Int64?,
                        source: String? = nil, location: String? = nil, provider: String? = nil) -> Event {
        PJ.ev(id, .booking, subject, at, source: source, appointment: appointment, scheduledFor: scheduledFor,
              location: location, provider: provider)
    }

    // MARK: appointments

    @Test func appointmentsCountThePeriodFromInclusiveToExclusive() throws {
        let from = t0 + 10 * day, to = t0 + 20 * day
        let p = PJ.fold([
            Self.booking("b1", "p1", t0, appointment: "a1", scheduledFor: from),       // at from: in
            Self.booking("b2", "p2", t0, appointment: "a2", scheduledFor: to),         // at to: out
            Self.booking("b3", "p3", t0, appointment: "a3", scheduledFor: to - 1),     // in
            Self.booking("b4", "p4", t0, appointment: "a4", scheduledFor: from - 1),   // out
        ])
        let r = p.appointments(try AppointmentsQuery(from: from, to: to))
        #expect(r.groups.count == 1)
        #expect(r.groups[0].appointments == 2 && r.groups[0].open == 2)
        // Every rate's denominator is 0 or the count of open appointments.
        #expect(r.groups[0].noShowRate == nil && r.groups[0].rebookRate == nil && r.groups[0].cancellationRate == 0)
        #expect(r.json.contains(#""no_show_rate":null,"cancellation_rate":0,"rebooked":0,"rebook_rate":null,"revenue":0.00"#))
    }

    @Test func aBookingMadeAtOrAfterToDoesNotCount() throws {
        let from = t0, to = t0 + 30 * day
        let p = PJ.fold([
            Self.booking("b1", "p1", to, appointment: "a1", scheduledFor: to - day),        // booked at to: not yet seen
            Self.booking("b2", "p2", to - 1, appointment: "a2", scheduledFor: to - day),    // seen
            PJ.ev("v2", .visit, "p2", to, appointment: "a2", amountCents: 5000),           // outcome at to: not yet
        ])
        let r = p.appointments(try AppointmentsQuery(from: from, to: to))
        #expect(r.groups.map(\.appointments) == [1])
        #expect(r.groups[0].open == 1 && r.groups[0].visited == 0 && r.groups[0].revenueCents == 0)
    }

    @Test func anAppointmentIsLeftOutWhenItsEarliestBookingHasNoScheduledFor() throws {
        let p = PJ.fold([
            Self.booking("b1", "p1", t0, appointment: "a1", scheduledFor: nil),
            Self.booking("b2", "p1", t0 + day, appointment: "a1", scheduledFor: t0 + 5 * day),
            Self.booking("b3", "p1", t0 + day, appointment: "a2", scheduledFor: t0 + 6 * day),
            Self.booking("b4", "p1", t0 + 2 * day, appointment: "a2", scheduledFor: nil),
        ])
        let r = p.appointments(try AppointmentsQuery(from: t0, to: t0 + 30 * day))
        // a1's earliest booking has none (left out); a2's earliest has one.
        #expect(r.groups.map(\.appointments) == [1])
    }

    @Test func theOutcomeIsTheEarliestVisitNoShowOrCancellation() throws {
        let s = t0 + 10 * day
        let p = PJ.fold([
            Self.booking("b1", "p1", t0, appointment: "a1", scheduledFor: s),
            PJ.ev("c1", .cancellation, "p1", t0 + day, appointment: "a1"),
            PJ.ev("v1", .visit, "p1", s, appointment: "a1", amountCents: 9900),
            Self.booking("b2", "p2", t0, appointment: "a2", scheduledFor: s),
            PJ.ev("v2", .visit, "p2", s, appointment: "a2", amountCents: 12050),
            PJ.ev("v2b", .visit, "p2", s + day, appointment: "a2", amountCents: 7000),
            PJ.ev("n2", .noShow, "p2", s + 2 * day, appointment: "a2"),
            // An outcome before the booking still is the appointment's outcome.
            PJ.ev("n3", .noShow, "p3", t0 - day, appointment: "a3"),
            Self.booking("b3", "p3", t0, appointment: "a3", scheduledFor: s),
        ])
        let g = p.appointments(try AppointmentsQuery(from: t0, to: t0 + 30 * day)).groups[0]
        #expect(g.appointments == 3 && g.cancelled == 1 && g.visited == 1 && g.noShow == 1 && g.open == 0)
        // Revenue: a2's earliest visit only.
        #expect(g.revenueCents == 12050)
        #expect(g.noShowRate == 0.5)
        #expect(abs(g.cancellationRate! - 1.0 / 3.0) < 1e-15)
    }

    @Test func aRebookingCountsUpToExactlyThirtyDaysAfterTheOutcome() throws {
        let s = t0 + 10 * day
        let window = 30 * day
        let p = PJ.fold([
            Self.booking("b1", "p1", t0, appointment: "a1", scheduledFor: s),
            PJ.ev("n1", .noShow, "p1", s, appointment: "a1"),
            Self.booking("r1", "p1", s + window, appointment: "x1", scheduledFor: s + 40 * day),        // in
            Self.booking("b2", "p2", t0, appointment: "a2", scheduledFor: s),
            PJ.ev("c2", .cancellation, "p2", s, appointment: "a2"),
            Self.booking("r2", "p2", s + window + 1, appointment: "x2", scheduledFor: s + 40 * day),    // out
            Self.booking("b3", "p3", t0, appointment: "a3", scheduledFor: s),
            PJ.ev("c3", .cancellation, "p3", s, appointment: "a3"),
            Self.booking("r3", "p3", s, appointment: "x3", scheduledFor: s + 40 * day),                 // same instant: out
        ])
        let to = t0 + 100 * day
        let r = p.appointments(try AppointmentsQuery(from: t0, to: s + 1))
        #expect(r.groups.map(\.appointments) == [3])
        _ = to
        // At `to` = s + 1, no rebooking is seen yet.
        #expect(r.groups[0].rebooked == 0)
        let later = p.appointments(try AppointmentsQuery(from: t0, to: s + 20 * day)).groups[0]
        #expect(later.appointments == 3 && later.noShow == 1 && later.cancelled == 2)
        let all = p.appointments(try AppointmentsQuery(from: t0, to: s + 35 * day)).groups[0]
        #expect(all.rebooked == 1 && all.rebookRate.map { abs($0 - 1.0 / 3.0) < 1e-15 } == true)
    }

    @Test func appointmentGroupsSortByCountThenValueWithNullLast() throws {
        let s = t0 + day
        let p = PJ.fold([
            Self.booking("b1", "p1", t0, appointment: "a", scheduledFor: s, location: "south"),
            Self.booking("b2", "p2", t0, appointment: "a", scheduledFor: s, location: "north"),
            Self.booking("b3", "p3", t0, appointment: "a", scheduledFor: s),
            Self.booking("b4", "p4", t0, appointment: "a", scheduledFor: s),
            Self.booking("b5", "p5", t0, appointment: "a", scheduledFor: s, location: "Zeta"),
            Self.booking("b6", "p6", t0, appointment: "a", scheduledFor: s, location: "Zeta"),
        ])
        let r = p.appointments(try AppointmentsQuery(from: t0, to: t0 + 10 * day, by: .location))
        #expect(r.groups.map(\.value) == ["Zeta", nil, "north", "south"])
        #expect(p.appointments(try AppointmentsQuery(from: t0, to: t0 + 10 * day, by: .channel)).groups.map(\.value) == ["web"])
    }

    // MARK: patients

    @Test func patientsCountNewRetainedAndLapsedAtTheBoundaries() throws {
        let from = t0 + 400 * day, to = t0 + 430 * day
        let year = 365 * day
        let p = PJ.fold([
            // Active at start (visit exactly 365 d before from) and retained.
            PJ.ev("a1", .visit, "p1", from - year, amountCents: 100),
            PJ.ev("a2", .visit, "p1", from, amountCents: 250),
            // A visit 365 d + 1 ms before from: not active at start; lapsed at as_of.
            PJ.ev("b1", .visit, "p2", from - year - 1),
            // New in the period, referred.
            PJ.ev("c0", .referral, "p3", from - day, referrer: "p1"),
            PJ.ev("c1", .visit, "p3", to - 1, amountCents: 1000),
            // A first visit at `to`: not seen.
            PJ.ev("d1", .visit, "p4", to),
        ])
        let g = p.patients(try PatientsQuery(from: from, to: to)).groups
        #expect(g.count == 1)
        #expect(g[0].new == 1 && g[0].referredNew == 1)
        #expect(g[0].activeAtStart == 1 && g[0].retained == 1 && g[0].retentionRate == 1)
        // p2: as_of − last = (to − 1) − (from − 365 d − 1) = 365 d + 30 d > 365 d.
        #expect(g[0].lapsed == 1)
        #expect(g[0].visits == 2 && g[0].revenueCents == 1250)
    }

    @Test func retentionRateIsNullWithoutActivePatients() throws {
        let p = PJ.fold([PJ.ev("v", .visit, "p1", t0 + day, channel: .phone)])
        let r = p.patients(try PatientsQuery(from: t0, to: t0 + 10 * day, by: .acquisitionChannel))
        #expect(r.groups.map(\.value) == ["phone"])
        #expect(r.groups[0].activeAtStart == 0 && r.groups[0].retentionRate == nil)
        #expect(r.json.contains(#""retention_rate":null"#))
        // A period where nothing counts has no groups.
        #expect(p.patients(try PatientsQuery(from: t0 - 10 * day, to: t0)).groups.isEmpty)
        // Long after the visit, the patient counts as lapsed only.
        let late = p.patients(try PatientsQuery(from: t0 + 500 * day, to: t0 + 501 * day)).groups
        #expect(late.map(\.lapsed) == [1] && late.map(\.new) == [0] && late.map(\.activeAtStart) == [0])
    }

    @Test func patientsGroupByTheFirstTouchAsOfTheReport() throws {
        let to = t0 + 10 * day
        let p = PJ.fold([
            // The earliest touch comes after `to`: the first touch at as_of is the later web visit's?
            // No: at as_of only w2 exists, so the source is "bing".
            PJ.ev("w1", .webVisit, "p1", to + day, source: "google"),
            PJ.ev("w2", .webVisit, "p1", t0, source: "bing"),
            PJ.ev("v1", .visit, "p1", t0 + day),
        ])
        #expect(p.patients(try PatientsQuery(from: t0, to: to, by: .source)).groups.map(\.value) == ["bing"])
    }

    // MARK: cohorts

    @Test func cohortsFollowMonthsAndLeaveThoseAtOrAfterToNull() throws {
        let jan = t0, feb = t0 + 31 * day, mar = feb + 28 * day, apr = mar + 31 * day
        let p = PJ.fold([
            PJ.ev("a1", .visit, "p1", jan + 5 * day),
            PJ.ev("a2", .visit, "p1", mar),                 // k = 2
            PJ.ev("b1", .visit, "p2", feb - 1),             // January, last millisecond
            PJ.ev("b2", .visit, "p2", feb),                 // k = 1
            PJ.ev("c1", .visit, "p3", feb + day),           // February cohort
            PJ.ev("c2", .visit, "p3", apr),                 // at `to`: not seen
            PJ.ev("d1", .visit, "p4", jan - 1),             // December: before the period
        ])
        let r = try p.cohorts(try CohortsQuery(from: jan, to: apr, periods: 4, calendar: utc))
        #expect(r.cohorts.map(\.month) == ["2026-01", "2026-02"])
        #expect(r.cohorts[0].size == 2 && r.cohorts[0].retained == [2, 1, 1, nil])
        #expect(r.cohorts[1].size == 1 && r.cohorts[1].retained == [1, 0, nil, nil])
        #expect(r.json.contains(#"{"month":"2026-01","value":null,"size":2,"retained":[2,1,1,null]}"#))
    }

    @Test func cohortMonthsStartInThePeriod() throws {
        // A period starting mid-January: the January cohort's month starts before it.
        let p = PJ.fold([PJ.ev("a1", .visit, "p1", t0 + 20 * day), PJ.ev("b1", .visit, "p2", t0 + 40 * day)])
        let r = try p.cohorts(try CohortsQuery(from: t0 + 10 * day, to: t0 + 90 * day, periods: 2, calendar: utc))
        #expect(r.cohorts.map(\.month) == ["2026-02"])
    }

    @Test func aTimeZoneMovesAVisitToAnotherCohortMonth() throws {
        // 2026-02-01T03:00Z is still January 31st, 22:00 in New York.
        let feb = t0 + 31 * day
        let p = PJ.fold([PJ.ev("a1", .visit, "p1", feb + 3 * 3_600_000)])
        let ny = try ReportCalendar(timeZone: "America/New_York")
        let utc = try p.cohorts(try CohortsQuery(from: t0, to: t0 + 90 * day, periods: 1, calendar: utc))
        let local = try p.cohorts(try CohortsQuery(from: t0 + 5 * 3_600_000, to: t0 + 90 * day, periods: 1, calendar: ny))
        #expect(utc.cohorts.map(\.month) == ["2026-02"])
        #expect(local.cohorts.map(\.month) == ["2026-01"])
    }

    // MARK: trends

    @Test func isoWeeksStartOnMondayAtMidnight() throws {
        let p = PJ.fold([
            PJ.ev("e1", .webVisit, "p1", monday - 1),        // Sunday 23:59:59.999
            PJ.ev("e2", .webVisit, "p1", monday),            // Monday 00:00
            PJ.ev("e3", .webVisit, "p2", monday + 7 * day - 1),
            PJ.ev("e4", .webVisit, "p2", t0 - 1),                 // before `from`, same week: not counted
        ])
        let r = try p.trends(try TrendsQuery(step: .touch, interval: .week, from: t0, to: monday + 7 * day,
                                              calendar: utc))
        // 2025-12-29 (the Monday of the week holding from) and 2026-01-05.
        #expect(r.buckets == [monday - 7 * day, monday])
        #expect(r.groups.map(\.counts) == [[1, 2]] && r.groups[0].total == 3)
        #expect(r.json.hasPrefix(#"{"step":"touch","interval":"week","by":"none","unique":false,"buckets":["2025-12-29T00:00:00.000Z","2026-01-05T00:00:00.000Z"]"#))
    }

    @Test func monthBucketsSplitAtTheFirstOfTheMonth() throws {
        let feb = t0 + 31 * day
        let p = PJ.fold([
            PJ.ev("e1", .visit, "p1", feb - 1),
            PJ.ev("e2", .visit, "p1", feb),
            PJ.ev("e3", .call, "p1", feb),  // another step
        ])
        let r = try p.trends(try TrendsQuery(step: .type(.visit), interval: .month, from: t0, to: feb + 1, calendar: utc))
        #expect(r.buckets == [t0, feb])
        #expect(r.groups.map(\.counts) == [[1, 1]])
        let days = try p.trends(try TrendsQuery(step: .contact, interval: .day, from: feb - day, to: feb + day, calendar: utc))
        #expect(days.buckets == [feb - day, feb] && days.groups.map(\.counts) == [[0, 1]])
    }

    @Test func aTimeZoneMovesAnEventToTheWeekBefore() throws {
        // Monday 03:00 UTC is Sunday 22:00 in New York (UTC−5 in January).
        let at = monday + 3 * 3_600_000
        let p = PJ.fold([PJ.ev("e1", .chat, "p1", at)])
        let ny = try ReportCalendar(timeZone: "America/New_York")
        let from = monday - 7 * day, to = monday + 7 * day
        let utc = try p.trends(try TrendsQuery(step: .inquiry, interval: .week, from: from, to: to, calendar: utc))
        let local = try p.trends(try TrendsQuery(step: .inquiry, interval: .week, from: from, to: to, calendar: ny))
        #expect(utc.groups.map(\.counts) == [[0, 1]])
        // New York's weeks start at 05:00 UTC: the one holding `from` starts 2025-12-22T05:00Z.
        #expect(local.buckets == [from - 7 * day + 5 * 3_600_000, from + 5 * 3_600_000, monday + 5 * 3_600_000])
        #expect(local.groups.map(\.counts) == [[0, 1, 0]])
    }

    @Test func uniqueCountsDistinctClustersPerBucketAndOverThePeriod() throws {
        let p = PJ.fold([
            PJ.ev("e1", .webVisit, "p1", t0, source: "google"),
            PJ.ev("e2", .webVisit, "p1", t0 + 1, source: "google"),
            PJ.ev("e3", .webVisit, "anon", t0 + day, source: "google"),
            PJ.identify("i1", "anon", "p1", t0 + 2 * day),
            PJ.ev("e4", .webVisit, "p2", t0 + day, source: "google"),
            PJ.ev("e5", .webVisit, "p3", t0 + day),
        ])
        let q = try TrendsQuery(step: .type(.webVisit), interval: .day, from: t0, to: t0 + 2 * day, by: .source,
                                unique: true, calendar: utc)
        let r = try p.trends(q)
        #expect(r.groups.map(\.value) == ["google", nil])
        // google: p1 (with anon) on day 1 and day 2, p2 on day 2; distinct over the period: 2.
        #expect(r.groups[0].counts == [1, 2] && r.groups[0].total == 2)
        #expect(r.groups[1].counts == [0, 1] && r.groups[1].total == 1)
        var events = q
        events.unique = false
        #expect(try p.trends(events).groups[0].counts == [2, 2])
    }

    @Test func unknownTimeZonesAndEmptyPeriodsAreRefusedNamingTheField() {
        #expect(throws: ReportQueryError(field: "tz", "unknown time zone \"Mars/Olympus\": use an IANA name such as UTC or America/New_York")) {
            try ReportCalendar(timeZone: "Mars/Olympus")
        }
        #expect((try? AppointmentsQuery(from: t0, to: t0)) == nil)
        do {
            _ = try PatientsQuery(from: t0 + 1, to: t0)
            Issue.record("an empty period was accepted")
        } catch {
            #expect(error.field == "to")
        }
        do {
            _ = try CohortsQuery(from: t0, to: t0 + 1, periods: 0, calendar: utc)
            Issue.record("periods 0 was accepted")
        } catch {
            #expect(error.field == "periods")
        }
        do {
            _ = try SegmentQuery(asOf: t0, filters: SegmentFilters(minVisits: 3, maxVisits: 2))
            Issue.record("min_visits > max_visits was accepted")
        } catch {
            #expect(error.field == "max_visits")
        }
    }

    // MARK: referrals

    @Test func referrersSortByReferredThenConvertedThenId() throws {
        let p = PJ.fold([
            PJ.ev("r1", .referral, "a1", t0, referrer: "zed"),
            PJ.ev("r2", .referral, "a2", t0, referrer: "zed"),
            PJ.ev("r3", .referral, "b1", t0, referrer: "amy"),
            PJ.ev("r4", .referral, "b2", t0, referrer: "amy"),
            PJ.ev("v4", .visit, "b2", t0 + day, amountCents: 5000),
            PJ.ev("r5", .referral, "c1", t0, referrer: "bob"),
            PJ.ev("v5", .visit, "c1", t0 + day, amountCents: 2500),
            PJ.ev("v5b", .visit, "c1", t0 + 2 * day, amountCents: 2500),
            PJ.ev("r6", .referral, "d1", t0, referrer: "Carl"),
            PJ.ev("v6", .visit, "d1", t0 + day, amountCents: 100),
            // A later referral of a1 does not change its referrer.
            PJ.ev("r7", .referral, "a1", t0 + day, referrer: "amy"),
        ])
        let r = p.referrals(asOf: t0 + 10 * day, limit: 100)
        #expect(r.referrers.map(\.patient) == ["amy", "zed", "Carl", "bob"])
        #expect(r.referrers.map(\.referred) == [2, 2, 1, 1])
        #expect(r.referrers.map(\.converted) == [1, 0, 1, 1])
        #expect(r.referrers.map(\.revenueCents) == [5000, 0, 100, 5000])
        #expect(p.referrals(asOf: t0 + 10 * day, limit: 2).referrers.map(\.patient) == ["amy", "zed"])
        // Before the visits, nobody converted.
        #expect(p.referrals(asOf: t0, limit: 100).referrers.map(\.converted) == [0, 0, 0, 0])
    }

    @Test func theSummaryMeansRoundHalfUpToCents() throws {
        let p = PJ.fold([
            PJ.ev("r1", .referral, "a", t0, referrer: "x"),
            PJ.ev("v1", .visit, "a", t0 + day, amountCents: 10000),
            PJ.ev("r2", .referral, "b", t0, referrer: "x"),
            PJ.ev("v2", .visit, "b", t0 + day, amountCents: 10001),
            PJ.ev("v3", .visit, "c", t0 + day, amountCents: 1),
            PJ.ev("v4", .visit, "d", t0 + day, amountCents: 1),
            PJ.ev("v5", .visit, "e", t0 + day, amountCents: 2),
            PJ.ev("w6", .webVisit, "f", t0),  // no visit: in neither
        ])
        let s = p.referrals(asOf: t0 + 2 * day, limit: 10).summary
        // (100.00 + 100.01) / 2 = 100.005 → 100.01; (0.01 + 0.01 + 0.02) / 3 = 0.0133… → 0.01.
        #expect(s.referredPatients == 2 && s.referredAvgValueCents == 10001)
        #expect(s.directPatients == 3 && s.directAvgValueCents == 1)
        #expect(p.referrals(asOf: t0 + 2 * day, limit: 10).json.hasSuffix(#""summary":{"referred_patients":2,"direct_patients":3,"referred_avg_value":100.01,"direct_avg_value":0.01}}"#))
        let none = p.referrals(asOf: t0, limit: 10).summary
        #expect(none.referredPatients == 0 && none.referredAvgValueCents == nil && none.directAvgValueCents == nil)
        #expect(ReferralsReport.mean(5, 2) == 3 && ReferralsReport.mean(7, 2) == 4 && ReferralsReport.mean(4, 3) == 1 && ReferralsReport.mean(5, 3) == 2)
    }

    // MARK: segment

    static let segmentPractice: [Event] = [
        // p1: web first touch (google, spring), 3 visits, 300.00, active.
        PJ.ev("a0", .webVisit, "p1", t0, source: "google", campaign: "spring"),
        PJ.ev("a1", .visit, "p1", t0 + 10 * day, amountCents: 10000),
        PJ.ev("a2", .visit, "p1", t0 + 20 * day, amountCents: 10000),
        PJ.ev("a3", .visit, "p1", t0 + 30 * day, amountCents: 10000),
        // p2: referred by p1, one visit 50.00, then a no-show.
        PJ.ev("b0", .referral, "p2", t0 + day, referrer: "p1"),
        PJ.ev("b1", .visit, "p2", t0 + 5 * day, amountCents: 5000),
        PJ.ev("b2", .booking, "p2", t0 + 6 * day, appointment: "x", scheduledFor: t0 + 8 * day),
        PJ.ev("b3", .noShow, "p2", t0 + 8 * day, appointment: "x"),
        // p3: a call only (inquiring).
        PJ.ev("c0", .call, "p3", t0 + 2 * day),
        // p4: only events after as_of.
        PJ.ev("d0", .visit, "p4", t0 + 100 * day),
    ]
    static let segmentAsOf = t0 + 40 * day

    static func segment(_ f: SegmentFilters, limit: Int = 100, after: String? = nil, asOf: Int64 = segmentAsOf) throws -> [String] {
        PJ.fold(segmentPractice).segment(try SegmentQuery(asOf: asOf, filters: f, limit: limit, after: after)).patients.map(\.patient)
    }

    @Test func eachSegmentFilterAlone() throws {
        #expect(try Self.segment(SegmentFilters()) == ["p1", "p2", "p3"])
        #expect(try Self.segment(SegmentFilters(stage: [.inquiring, .booked])) == ["p3"])
        #expect(try Self.segment(SegmentFilters(risk: [.noShowNotRebooked])) == ["p2"])
        #expect(try Self.segment(SegmentFilters(acquisitionChannel: .phone)) == ["p3"])
        #expect(try Self.segment(SegmentFilters(source: "google")) == ["p1"])
        #expect(try Self.segment(SegmentFilters(source: "never")) == [])
        #expect(try Self.segment(SegmentFilters(campaign: "spring")) == ["p1"])
        #expect(try Self.segment(SegmentFilters(minVisits: 1)) == ["p1", "p2"])
        #expect(try Self.segment(SegmentFilters(maxVisits: 1)) == ["p2", "p3"])
        #expect(try Self.segment(SegmentFilters(lastVisitBefore: t0 + 30 * day)) == ["p2"])
        #expect(try Self.segment(SegmentFilters(lastVisitBefore: t0 + 30 * day + 1)) == ["p1", "p2"])
        #expect(try Self.segment(SegmentFilters(lastVisitAfter: t0 + 5 * day)) == ["p1"])
        #expect(try Self.segment(SegmentFilters(minValueCents: 30000)) == ["p1"])
        #expect(try Self.segment(SegmentFilters(minValueCents: 30001)) == [])
        #expect(try Self.segment(SegmentFilters(referred: true)) == ["p2"])
        #expect(try Self.segment(SegmentFilters(referred: false)) == ["p1", "p3"])
    }

    @Test func consentAndAttrFilters() throws {
        let asOf = t0 + 10 * day
        var events = [
            // p1: sms granted then revoked; email granted.
            Event(id: "k1", type: .consent, subject: "p1", at: t0, channel: .sms, consentStatus: .granted),
            Event(id: "k2", type: .consent, subject: "p1", at: t0 + day, channel: .sms, consentStatus: .revoked),
            Event(id: "k3", type: .consent, subject: "p1", at: t0 + day, channel: .email, consentStatus: .granted),
            // p2: sms revoked then granted again; a grant after as_of does not count.
            Event(id: "k4", type: .consent, subject: "p2", at: t0, channel: .sms, consentStatus: .revoked),
            Event(id: "k5", type: .consent, subject: "p2", at: t0 + 2 * day, channel: .sms, consentStatus: .granted),
            Event(id: "k6", type: .consent, subject: "p2", at: asOf + 1, channel: .email, consentStatus: .granted),
        ]
        // Attrs: p1's latest event with "language" says "en" (a later event without it does not
        // count); p2's latest says "es".
        var a1 = PJ.ev("w1", .webVisit, "p1", t0); a1.attrs = [.init(key: "language", value: "es")]
        var a2 = PJ.ev("w2", .webVisit, "p1", t0 + day); a2.attrs = [.init(key: "language", value: "en"), .init(key: "payer", value: "delta")]
        var a3 = PJ.ev("w3", .webVisit, "p1", t0 + 2 * day); a3.attrs = [.init(key: "payer", value: "aetna")]
        var a4 = PJ.ev("w4", .webVisit, "p2", t0); a4.attrs = [.init(key: "language", value: "es")]
        var a5 = PJ.ev("w5", .webVisit, "p2", asOf + 1); a5.attrs = [.init(key: "language", value: "en")]
        events += [a1, a2, a3, a4, a5]
        let p = PJ.fold(events)
        func ids(_ f: SegmentFilters) throws -> [String] {
            p.segment(try SegmentQuery(asOf: asOf, filters: f)).patients.map(\.patient)
        }
        #expect(try ids(SegmentFilters(consent: .sms)) == ["p2"])
        #expect(try ids(SegmentFilters(consent: .email)) == ["p1"])
        #expect(try ids(SegmentFilters(consent: .phone)) == [])
        #expect(try ids(SegmentFilters(attrs: [.init(key: "language", value: "es")])) == ["p2"])
        #expect(try ids(SegmentFilters(attrs: [.init(key: "language", value: "en")])) == ["p1"])
        #expect(try ids(SegmentFilters(attrs: [.init(key: "language", value: "en"), .init(key: "payer", value: "aetna")])) == ["p1"])
        #expect(try ids(SegmentFilters(attrs: [.init(key: "payer", value: "delta")])) == [])
        #expect(try ids(SegmentFilters(consent: .sms, attrs: [.init(key: "language", value: "es")])) == ["p2"])
    }

    @Test func segmentFiltersCombined() throws {
        #expect(try Self.segment(SegmentFilters(stage: [.active], minVisits: 1, referred: false)) == ["p1"])
        #expect(try Self.segment(SegmentFilters(stage: [.active], risk: [.noShowNotRebooked], maxVisits: 1)) == ["p2"])
        #expect(try Self.segment(SegmentFilters(acquisitionChannel: .web, referred: true)) == [])
    }

    @Test func segmentIsThePointInTimeView() throws {
        // At t0 + 7 d: p1 has no visit yet, p2 one, p4 nothing (not listed).
        let p = PJ.fold(Self.segmentPractice)
        let page = p.segment(try SegmentQuery(asOf: t0 + 7 * day))
        #expect(page.patients.map(\.patient) == ["p1", "p2", "p3"])
        #expect(page.patients.map(\.visits) == [0, 1, 0])
        #expect(page.patients.map(\.stage) == [.prospect, .active, .inquiring])
        #expect(page.patients[1].risk == [])
        // Later, p4's visit counts.
        #expect(try Self.segment(SegmentFilters(minVisits: 1), asOf: t0 + 100 * day) == ["p1", "p2", "p4"])
    }

    @Test func segmentPagesByCanonicalIdWithATotal() throws {
        let p = PJ.fold(Self.segmentPractice)
        let first = p.segment(try SegmentQuery(asOf: Self.segmentAsOf, limit: 2))
        #expect(first.total == 3 && first.patients.map(\.patient) == ["p1", "p2"] && first.next == "p2")
        let second = p.segment(try SegmentQuery(asOf: Self.segmentAsOf, limit: 2, after: first.next))
        #expect(second.total == 3 && second.patients.map(\.patient) == ["p3"] && second.next == nil)
        let exact = p.segment(try SegmentQuery(asOf: Self.segmentAsOf, limit: 3))
        #expect(exact.next == nil)
        #expect(exact.json.contains(#"{"patient":"p1","stage":"active","risk":[],"visits":3,"last_visit_at":"2026-01-31T00:00:00.000Z","lifetime_value":300.00,"acquisition_channel":"web"}"#))
    }

    // MARK: answers read back

    @Test func everyReportReadsBackFromItsJSON() throws {
        let p = PJ.fold(Self.segmentPractice)
        let a = p.appointments(try AppointmentsQuery(from: t0, to: t0 + 50 * day, by: .channel))
        #expect(try AppointmentsReport(json: JSONParser.parse(Array(a.json.utf8))) == a)
        let pt = p.patients(try PatientsQuery(from: t0, to: t0 + 50 * day))
        #expect(try PatientsReport(json: JSONParser.parse(Array(pt.json.utf8))) == pt)
        let c = try p.cohorts(try CohortsQuery(from: t0, to: t0 + 50 * day, periods: 3, calendar: utc))
        #expect(try CohortsReport(json: JSONParser.parse(Array(c.json.utf8))) == c)
        let t = try p.trends(try TrendsQuery(from: t0, to: t0 + 50 * day, calendar: utc))
        #expect(try TrendsReport(json: JSONParser.parse(Array(t.json.utf8))) == t)
        let r = p.referrals(asOf: Self.segmentAsOf, limit: 10)
        #expect(try ReferralsReport(json: JSONParser.parse(Array(r.json.utf8))) == r)
        let s = p.segment(try SegmentQuery(asOf: Self.segmentAsOf))
        #expect(try SegmentPage(json: JSONParser.parse(Array(s.json.utf8))) == s)
    }
}
