import Testing
@testable import JourneyCore

private let day = PJ.day
private let t0 = PJ.t0

/// The reports' scan of the clusters: it follows identity merges, unlink splits and late
/// events as they are folded, cuts each cluster at the report's `as_of`, and gives the same
/// answers on one thread and split over every core.
@Suite("Report scans")
struct ReportScanTests {
    /// (value, new, visits, revenue in cents) of each group of a patients report.
    static func rows(_ r: PatientsReport) -> [String] {
        r.groups.map { "\($0.value ?? "null") new \($0.new) visits \($0.visits) revenue \($0.revenueCents)" }
    }

    @Test(arguments: [false, true])
    func patientsFollowMergesSplitsAndLateEvents(parallel: Bool) throws {
        var p = Projector()
        if parallel { p.reportScanParallelMinimum = 1 }
        let q = try PatientsQuery(from: t0, to: t0 + 30 * day, by: .acquisitionChannel)
        // p1: a call, then a visit of 100.00; a1 (anonymous): a web visit before both.
        for e in [PJ.ev("w1", .webVisit, "a1", t0 + 1 * day), PJ.ev("c1", .call, "p1", t0 + 2 * day),
                  PJ.ev("v1", .visit, "p1", t0 + 10 * day, amountCents: 10_000)] { p.apply(e) }
        // a1 has no visit: no count of its group is other than zero, so it has no group.
        #expect(Self.rows(p.patients(q)) == ["phone new 1 visits 1 revenue 10000"])
        // a1 is p1: the merged journey's first touch is a1's web visit.
        let identify = PJ.identify("i1", "a1", "p1", t0 + 20 * day)
        p.apply(identify)
        #expect(Self.rows(p.patients(q)) == ["web new 1 visits 1 revenue 10000"])
        // Identity uses every identify, even one after the report's `as_of` (SPEC §3.2).
        let early = try PatientsQuery(from: t0, to: t0 + 15 * day, by: .acquisitionChannel)
        #expect(Self.rows(p.patients(early)) == ["web new 1 visits 1 revenue 10000"])
        // The link withdrawn: p1 is a phone patient again.
        let unlink = PJ.unlink("u1", "a1", "p1", t0 + 25 * day)
        p.apply(unlink)
        p.resolveSplits(from: [PJ.ev("w1", .webVisit, "a1", t0 + 1 * day), PJ.ev("c1", .call, "p1", t0 + 2 * day),
                               PJ.ev("v1", .visit, "p1", t0 + 10 * day, amountCents: 10_000), identify, unlink])
        #expect(Self.rows(p.patients(q)) == ["phone new 1 visits 1 revenue 10000"])
        // A late search hit, before everything else of p1, becomes its first touch.
        p.apply(PJ.ev("s1", .searchHit, "p1", t0 - 10 * day, source: "google"))
        #expect(Self.rows(p.patients(q)) == ["search new 1 visits 1 revenue 10000"])
        // A late visit of p1 before `from`: p1 is no longer new, and was active at the start.
        p.apply(PJ.ev("v0", .visit, "p1", t0 - 5 * day, amountCents: 2_550))
        let r = p.patients(q)
        #expect(Self.rows(r) == ["search new 0 visits 1 revenue 10000"])
        #expect(r.groups[0].activeAtStart == 1 && r.groups[0].retained == 1)
    }

    @Test(arguments: [false, true])
    func appointmentsAndReferralsFollowAMergeAndAreCutAtAsOf(parallel: Bool) throws {
        var p = Projector()
        if parallel { p.reportScanParallelMinimum = 1 }
        for e in [
            PJ.ev("b1", .booking, "a1", t0, appointment: "x", scheduledFor: t0 + 5 * day, location: "north"),
            // The outcome is filed under another id of the same patient.
            PJ.ev("v1", .visit, "p1", t0 + 6 * day, appointment: "x", amountCents: 4_000),
            PJ.ev("r1", .referral, "p1", t0 + 7 * day, referrer: "p9"),
            PJ.ev("n9", .noShow, "p9", t0 + 8 * day, appointment: "y"),
        ] { p.apply(e) }
        let q = try AppointmentsQuery(from: t0, to: t0 + 30 * day, by: .location)
        // Apart, a1's appointment has no outcome.
        var g = p.appointments(q).groups
        #expect(g.count == 1 && g[0].value == "north" && g[0].open == 1 && g[0].visited == 0)
        p.apply(PJ.identify("i1", "a1", "p1", t0 + 9 * day))
        g = p.appointments(q).groups
        #expect(g.count == 1 && g[0].appointments == 1 && g[0].visited == 1 && g[0].revenueCents == 4_000)
        // Up to the visit (to = its `at`: only earlier events count), it is open again.
        g = p.appointments(try AppointmentsQuery(from: t0, to: t0 + 6 * day, by: .location)).groups
        #expect(g.count == 1 && g[0].open == 1 && g[0].visited == 0)
        // p9 referred the merged p1, whose lifetime value is the visit's.
        var r = p.referrals(asOf: t0 + 30 * day, limit: 10)
        #expect(r.referrers.map(\.patient) == ["p9"] && r.referrers[0].converted == 1 && r.referrers[0].revenueCents == 4_000)
        #expect(r.summary.referredPatients == 1 && r.summary.directPatients == 0)
        // As of the millisecond before the referral: no referrer yet, p1 a direct patient.
        r = p.referrals(asOf: t0 + 7 * day - 1, limit: 10)
        #expect(r.referrers.isEmpty && r.summary.directPatients == 1 && r.summary.directAvgValueCents == 4_000)
    }

    @Test func oneThreadAndEveryCoreGiveTheSameReports() throws {
        let events = PropertyPractice.make(seed: 47, patients: 80, dense: true)
        var parallel = PJ.fold(events)
        parallel.reportScanParallelMinimum = 1
        let one = try ReportPropertyTests.answers(PJ.fold(events))
        ReportPropertyTests.expectSame(try ReportPropertyTests.answers(parallel), one, "split over cores")
    }

    @Test func theSmallestAreChosenAndSorted() {
        let items: [UInt32] = [9, 3, 7, 1, 8, 2, 6, 0, 5, 4]
        #expect(Projector.smallest(3, of: items, by: <) == [0, 1, 2])
        #expect(Projector.smallest(9, of: items, by: <) == [0, 1, 2, 3, 4, 5, 6, 7, 8])
        // As many or more wanted than there are: all of them, sorted.
        #expect(Projector.smallest(10, of: items, by: <) == Array(0...9))
        #expect(Projector.smallest(11, of: items, by: <) == Array(0...9))
        #expect(Projector.smallest(1, of: items, by: >) == [9])
        #expect(Projector.smallest(0, of: items, by: <) == [])
        #expect(Projector.smallest(2, of: [], by: <) == [])
    }
}

/// The record types a cluster keeps for the reports' scan (`Cluster.types`).
@Suite("Cluster record types")
struct ClusterTypesTests {
    static func types(_ p: Projector, _ id: String) -> UInt32 { p.clusters[Int(p.root(of: id)!)].types }
    static func bits(_ types: [EventType]) -> UInt32 { types.reduce(0) { $0 | 1 << UInt32($1.rawValue) } }

    @Test func theyTakeNoRoomInTheClusterTable() {
        // The log reference, `lastAt`, then six 32-bit fields: no padding left, none added.
        #expect(MemoryLayout<Cluster>.stride == 8 + 8 + 6 * 4)
    }

    @Test func theyFollowFoldsMergesSplitsAndSnapshots() throws {
        var p = Projector()
        p.apply(PJ.ev("w1", .webVisit, "a1", t0))
        p.apply(PJ.ev("v1", .visit, "p1", t0 + day))
        #expect(Self.types(p, "a1") == Self.bits([.webVisit]) && Self.types(p, "p1") == Self.bits([.visit]))
        let identify = PJ.identify("i1", "a1", "p1", t0 + 2 * day)
        p.apply(identify)
        #expect(Self.types(p, "a1") == Self.bits([.webVisit, .visit, .identify]))
        let restored = try Projector(deserializing: p.serialize())
        #expect(Self.types(restored, "p1") == Self.bits([.webVisit, .visit, .identify]))
        // Split again: each part has only its own events' types (the unlink is a1's).
        let unlink = PJ.unlink("u1", "a1", "p1", t0 + 3 * day)
        p.apply(unlink)
        p.resolveSplits(from: [PJ.ev("w1", .webVisit, "a1", t0), PJ.ev("v1", .visit, "p1", t0 + day), identify, unlink])
        #expect(Self.types(p, "a1") == Self.bits([.webVisit, .identify, .unlink]))
        #expect(Self.types(p, "p1") == Self.bits([.visit]))
    }
}

/// One cluster's appointments by token, past the length searched in order.
@Suite("Appointments by token")
struct FirstByTokenTests {
    @Test func theFirstValuePutIsKeptOnEitherSideOfTheLinearLimit() {
        var t = FirstByToken<Int>()
        let n = FirstByToken<Int>.linearLimit + 8
        for i in 1...n { t.insertIfAbsent(UInt32(i), i) }
        // Put again with other values: the first stay, before and after the limit.
        for i in 1...n { t.insertIfAbsent(UInt32(i), -i) }
        #expect(t.entries.count == n)
        #expect((1...n).allSatisfy { t[UInt32($0)] == $0 })
        #expect(t[UInt32(n + 1)] == nil && t[0] == nil)
        t.removeAll()
        #expect(t.entries.isEmpty && t[1] == nil && t[UInt32(n)] == nil)
        t.insertIfAbsent(7, 70)
        #expect(t[7] == 70 && t.entries.count == 1)
    }

    @Test func aPatientWithManyAppointments() throws {
        // 40 appointments of one patient, more than the list searched in order: a0–a19 visited
        // (1.00 each, a5 twice: its earliest visit counts), a20–a29 cancelled, a30–a39 open.
        var events: [Event] = []
        for i in 0..<40 {
            events.append(PJ.ev("b\(i)", .booking, "p1", t0 + Int64(i), appointment: "a\(i)", scheduledFor: t0 + 10 * day))
            if i < 20 { events.append(PJ.ev("v\(i)", .visit, "p1", t0 + 10 * day, appointment: "a\(i)", amountCents: 100)) }
            if i >= 20 && i < 30 { events.append(PJ.ev("c\(i)", .cancellation, "p1", t0 + day, appointment: "a\(i)")) }
        }
        events.append(PJ.ev("v5b", .visit, "p1", t0 + 11 * day, appointment: "a5", amountCents: 9_900))
        let g = PJ.fold(events).appointments(try AppointmentsQuery(from: t0, to: t0 + 30 * day)).groups
        #expect(g.count == 1)
        #expect(g[0].appointments == 40 && g[0].visited == 20 && g[0].cancelled == 10 && g[0].open == 10)
        #expect(g[0].revenueCents == 2_000 && g[0].noShow == 0 && g[0].rebooked == 0)
    }
}
