import Testing
@testable import JourneyCore

/// `unlink` withdraws identity links, retroactively (SPEC §3.1 v2).
@Suite("Unlink (SPEC §3.1)")
struct UnlinkTests {
    typealias P = PJ
    static let h: Int64 = 3_600_000

    func canonical(_ p: Projector, _ id: String) -> String? { p.patient(id: id, asOf: P.t0 + 400 * P.day)?.patient }
    func aliases(_ p: Projector, _ id: String) -> [String]? { p.patient(id: id, asOf: P.t0 + 400 * P.day)?.aliases }

    /// Folds `events` one at a time, rebuilding split clusters from the events folded so far
    /// after each one (as a store does after each commit), and answers a query in between.
    static func foldIncrementally(_ events: [Event]) -> Projector {
        var p = Projector()
        for i in events.indices {
            p.apply(events[i])
            p.resolveSplits(from: events[...i])
            _ = p.patient(id: events[i].subject, asOf: P.t0)
        }
        return p
    }

    /// Every way of folding `events` answers the same as `PJ.fold` (in order): reversed, one at
    /// a time with splits resolved after each, and across a snapshot.
    static func expectFoldsAgree(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ids = PropertyTests.ids(events)
        let reference = PropertyTests.dump(P.fold(events), ids: ids)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(P.fold(events.reversed()), ids: ids), reference) == nil,
                sourceLocation: sourceLocation)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(foldIncrementally(events), ids: ids), reference) == nil,
                sourceLocation: sourceLocation)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(foldIncrementally(events.reversed()), ids: ids), reference) == nil,
                sourceLocation: sourceLocation)
        for cut in 1..<events.count {
            var restored = try Projector(deserializing: P.fold(Array(events[..<cut])).serialize())
            for e in events[cut...] { restored.apply(e) }
            restored.resolveSplits(from: events)
            #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), reference) == nil,
                    "cut at \(cut)", sourceLocation: sourceLocation)
        }
    }

    /// An anonymous visitor who searches and calls, is identified as p, then p books and visits.
    var journey: [Event] {
        [
            P.ev("w1", .webVisit, "anon", P.t0, source: "google"),
            P.ev("c1", .call, "anon", P.t0 + 1 * UnlinkTests.h, conversation: "cv", concern: "crown"),
            P.identify("i1", "anon", "p", P.t0 + 2 * UnlinkTests.h),
            P.ev("b1", .booking, "p", P.t0 + 3 * UnlinkTests.h, appointment: "a1", scheduledFor: P.t0 + 5 * P.day),
            P.ev("v1", .visit, "p", P.t0 + 5 * P.day, appointment: "a1", amountCents: 18_050),
        ]
    }

    @Test func unlinkAfterIdentifySplitsAsIfNeverLinked() throws {
        let unlink = P.unlink("u1", "anon", "p", P.t0 + 10 * P.day)
        let events = journey + [unlink]
        let linked = P.fold(journey)
        #expect(canonical(linked, "anon") == "p" && aliases(linked, "p") == ["anon"])
        let p = P.fold(events)
        #expect(p.clusterCount == 2 && p.eventCount == 6)
        #expect(canonical(p, "anon") == "anon" && aliases(p, "anon") == [])
        #expect(canonical(p, "p") == "p" && aliases(p, "p") == [])
        #expect(p.clusterIds(of: "anon") == ["anon"] && p.clusterIds(of: "p") == ["p"])
        let asOf = P.t0 + 20 * P.day
        let anon = try #require(p.patient(id: "anon", asOf: asOf))
        // anon: the web visit, the call, the identify (now withdrawn) and the unlink.
        #expect(anon.stage == .inquiring && anon.inquiries == 1 && anon.visits == 0)
        #expect(anon.counts[Int(EventType.identify.rawValue)] == 1 && anon.counts[Int(EventType.unlink.rawValue)] == 1)
        #expect(anon.firstTouch?.type == .webVisit && anon.lastTouch?.type == .call)
        let patient = try #require(p.patient(id: "p", asOf: asOf))
        #expect(patient.stage == .active && patient.bookings == 1 && patient.visits == 1 && patient.inquiries == 0)
        #expect(patient.firstTouch?.type == .booking && patient.acquisitionChannel == .web)
        #expect(patient.lifetimeValueCents == 18_050 && patient.counts[Int(EventType.identify.rawValue)] == 0)
        // Handoffs and funnels as if the identify had never been folded at all (it is no touch).
        let never = P.fold(journey.filter { $0.id != "i1" } + [unlink])
        for id in ["anon", "p"] {
            #expect(p.handoff(id: id, asOf: asOf)?.json == never.handoff(id: id, asOf: asOf)?.json)
        }
        #expect(p.handoff(id: "p", asOf: asOf)?.conversation == nil)
        #expect(p.handoff(id: "anon", asOf: asOf)?.conversation == "cv")
        for q in PropertyTests.funnels { #expect(p.funnel(q).json == never.funnel(q).json) }
        // Default funnel touch → inquiry → booking → visit: anon reaches inquiry, p only touch.
        let steps = p.funnel(FunnelQuery()).json
        #expect(steps == never.funnel(FunnelQuery()).json)
        #expect(p.contacts().json == never.contacts().json)
        try UnlinkTests.expectFoldsAgree(events)
    }

    @Test func unlinkBeforeTheIdentifyInTimelineDoesNothing() throws {
        let events = journey + [P.unlink("u1", "anon", "p", P.t0 + 1 * UnlinkTests.h + 30 * 60_000)]
        let p = P.fold(events)
        #expect(p.clusterCount == 1)
        #expect(canonical(p, "anon") == "p" && aliases(p, "anon") == ["anon"])
        #expect(p.patient(id: "anon", asOf: P.t0 + 20 * P.day)?.visits == 1)
        try UnlinkTests.expectFoldsAgree(events)
    }

    @Test func equalTimesAreDecidedByIdBytes() throws {
        let t = P.t0 + P.day
        // Unlink "a" sorts before identify "b": the identify comes later and links.
        let before = P.fold([P.identify("b", "x", "y", t), P.unlink("a", "x", "y", t)])
        #expect(canonical(before, "x") == "y" && before.clusterCount == 1)
        // Identify "a" sorts before unlink "b": withdrawn.
        let after = [P.identify("a", "x", "y", t), P.unlink("b", "x", "y", t)]
        let p = P.fold(after)
        #expect(canonical(p, "x") == "x" && canonical(p, "y") == "y" && p.clusterCount == 2)
        try UnlinkTests.expectFoldsAgree(after)
    }

    @Test func identifyAgainAfterTheUnlinkLinksAgainAndCountsFromThen() throws {
        // A → X (t1), A → Y (t2): sinks X and Y, the earliest identify names X.
        let t = P.t0
        let base = [P.identify("i1", "A", "X", t + 1), P.identify("i2", "A", "Y", t + 2)]
        #expect(canonical(P.fold(base), "A") == "X")
        // A is unlinked from X (t3), then identified with X again (t4): the link stands, but
        // dates from t4, so the earliest linking identify naming a sink is i2 (→ Y).
        let events = base + [P.unlink("u1", "A", "X", t + 3), P.identify("i3", "A", "X", t + 4)]
        let p = P.fold(events)
        #expect(p.clusterCount == 1)
        #expect(canonical(p, "A") == "Y" && aliases(p, "A") == ["A", "X"])
        try UnlinkTests.expectFoldsAgree(events)
        // Without the second identify, X stands alone and Y is canonical of {A, Y}.
        let split = P.fold(Array(events.dropLast()))
        #expect(canonical(split, "A") == "Y" && aliases(split, "Y") == ["A"] && canonical(split, "X") == "X")
    }

    @Test func aLateUnlinkSplitsAfterLaterEventsWereFolded() {
        // Everything folded and queried first, then an unlink arrives dated between the
        // identify and the booking.
        var p = Projector()
        for e in journey { p.apply(e) }
        #expect(!p.hasPendingSplits && canonical(p, "anon") == "p")
        let unlink = P.unlink("u1", "anon", "p", P.t0 + 2 * UnlinkTests.h + 1)
        p.apply(unlink)
        #expect(p.hasPendingSplits && p.pendingSplitSubjects.sorted() == ["anon", "p"])
        p.resolveSplits(from: journey + [unlink])
        #expect(!p.hasPendingSplits && p.clusterCount == 2 && p.eventCount == 6)
        #expect(canonical(p, "anon") == "anon" && canonical(p, "p") == "p")
        #expect(PropertyTests.dump(p, ids: ["anon", "p"]) == PropertyTests.dump(P.fold(journey + [unlink]), ids: ["anon", "p"]))
    }

    @Test func aLateIdentifyBeforeAnExistingUnlinkDoesNotLink() throws {
        var p = Projector()
        let unlink = P.unlink("u1", "anon", "p", P.t0 + 10 * P.day)
        let others = journey.filter { $0.id != "i1" }
        for e in [unlink] + others { p.apply(e) }
        p.apply(P.identify("i1", "anon", "p", P.t0 + 2 * UnlinkTests.h))
        #expect(!p.hasPendingSplits && p.clusterCount == 2)
        #expect(canonical(p, "anon") == "anon" && canonical(p, "p") == "p")
        // One dated after the unlink links.
        p.apply(P.identify("i2", "anon", "p", P.t0 + 11 * P.day))
        #expect(!p.hasPendingSplits && p.clusterCount == 1 && canonical(p, "anon") == "p")
        try UnlinkTests.expectFoldsAgree(journey + [unlink, P.identify("i2", "anon", "p", P.t0 + 11 * P.day)])
    }

    @Test func unlinkOfANeverLinkedPair() throws {
        let events = [P.ev("w", .webVisit, "anon", P.t0), P.unlink("u1", "anon", "p", P.t0 + 1)]
        var p = Projector()
        for e in events { p.apply(e) }
        #expect(!p.hasPendingSplits)
        // The patient named by the unlink is an id of its own, with no events.
        #expect(p.clusterCount == 2 && canonical(p, "p") == "p" && p.patient(id: "p", asOf: P.t0)?.counts.reduce(0, +) == 0)
        #expect(canonical(p, "anon") == "anon" && p.patient(id: "anon", asOf: P.t0 + 1)?.counts[Int(EventType.unlink.rawValue)] == 1)
        // The reverse pair is another pair: an unlink of p from anon withdraws nothing of anon → p.
        let reverse = P.fold([P.identify("i1", "anon", "p", P.t0), P.unlink("u1", "p", "anon", P.t0 + 1)])
        #expect(reverse.clusterCount == 1 && canonical(reverse, "anon") == "p")
        try UnlinkTests.expectFoldsAgree(events)
    }

    @Test func chainsSplitOnlyWhereNoOtherPathHolds() throws {
        let t = P.t0
        // A → B → C: unlinking B → C leaves {A, B} (canonical B) and {C}.
        let chain = [P.ev("wa", .webVisit, "A", t), P.ev("wc", .visit, "C", t + 5),
                     P.identify("i1", "A", "B", t + 1), P.identify("i2", "B", "C", t + 2)]
        let middle = chain + [P.unlink("u1", "B", "C", t + 3)]
        let p = P.fold(middle)
        #expect(p.clusterCount == 2)
        #expect(canonical(p, "A") == "B" && aliases(p, "A") == ["A"] && canonical(p, "C") == "C" && aliases(p, "C") == [])
        #expect(p.patient(id: "A", asOf: t + P.day)?.visits == 0 && p.patient(id: "C", asOf: t + P.day)?.visits == 1)
        try UnlinkTests.expectFoldsAgree(middle)
        // With A → C as well, unlinking A → B keeps all three together through C.
        let triangle = chain + [P.identify("i3", "A", "C", t + 4), P.unlink("u2", "A", "B", t + 6)]
        let q = P.fold(triangle)
        #expect(q.clusterCount == 1 && canonical(q, "B") == "C" && aliases(q, "B") == ["A", "B"])
        try UnlinkTests.expectFoldsAgree(triangle)
        // Then unlinking B → C too leaves B alone, {A, C} under C.
        let both = triangle + [P.unlink("u3", "B", "C", t + 7)]
        let r = P.fold(both)
        #expect(r.clusterCount == 2 && canonical(r, "A") == "C" && aliases(r, "C") == ["A"] && canonical(r, "B") == "B")
        try UnlinkTests.expectFoldsAgree(both)
    }

    @Test func cyclesAndSelfLinks() throws {
        let t = P.t0
        // A → B (t1), B → A (t2): a cycle, canonical the patient of the earliest identify, B.
        let cycle = [P.identify("i1", "A", "B", t + 1), P.identify("i2", "B", "A", t + 2)]
        #expect(canonical(P.fold(cycle), "A") == "B")
        // Withdrawing A → B leaves B → A: A is the one id never declared an alias.
        let events = cycle + [P.unlink("u1", "A", "B", t + 3)]
        let p = P.fold(events)
        #expect(p.clusterCount == 1 && canonical(p, "B") == "A" && aliases(p, "A") == ["B"])
        try UnlinkTests.expectFoldsAgree(events)
        // A self identify withdrawn: the id is again never declared an alias.
        let selfLink = [P.identify("i1", "A", "A", t + 1), P.identify("i2", "B", "A", t + 2), P.identify("i3", "B", "C", t + 3)]
        // Linked: sinks are C only (A and B are subjects): C.
        #expect(canonical(P.fold(selfLink), "A") == "C")
        let withdrawn = selfLink + [P.unlink("u1", "A", "A", t + 4)]
        // Now sinks A and C; the earliest linking identify naming one is i2 (→ A).
        let q = P.fold(withdrawn)
        #expect(q.clusterCount == 1 && canonical(q, "B") == "A" && aliases(q, "A") == ["B", "C"])
        try UnlinkTests.expectFoldsAgree(withdrawn)
    }

    @Test func referralsFollowTheSplit() throws {
        let t = P.t0
        let events = [
            // The referrer's two ids, linked then unlinked.
            P.identify("ir", "anon-r", "p-r", t + 1),
            P.ev("vr", .visit, "p-r", t + 2),
            // x was referred by anon-r, y by p-r; x visits.
            P.ev("rx", .referral, "x", t + 3, referrer: "anon-r"),
            P.ev("vx", .visit, "x", t + 4),
            P.ev("ry", .referral, "y", t + 5, referrer: "p-r"),
            // The referrer's ids were referred by others: anon-r by m (earlier), p-r by n.
            P.ev("rn", .referral, "p-r", t + 6, referrer: "n"),
            P.ev("rm", .referral, "anon-r", t + 5, referrer: "m"),
        ]
        let asOf = t + P.day
        let linked = P.fold(events)
        let pr = try #require(linked.patient(id: "anon-r", asOf: asOf))
        #expect(pr.patient == "p-r" && pr.referralsMade == 2 && pr.referralsConverted == 1 && pr.referredBy == "m")
        #expect(linked.patient(id: "x", asOf: asOf)?.referredBy == "p-r")
        let withUnlink = events + [P.unlink("u", "anon-r", "p-r", t + 7)]
        let p = P.fold(withUnlink)
        let anon = try #require(p.patient(id: "anon-r", asOf: asOf))
        #expect(anon.patient == "anon-r" && anon.referralsMade == 1 && anon.referralsConverted == 1 && anon.referredBy == "m")
        let known = try #require(p.patient(id: "p-r", asOf: asOf))
        #expect(known.referralsMade == 1 && known.referralsConverted == 0 && known.referredBy == "n")
        #expect(p.patient(id: "x", asOf: asOf)?.referredBy == "anon-r" && p.patient(id: "y", asOf: asOf)?.referredBy == "p-r")
        try UnlinkTests.expectFoldsAgree(withUnlink)
    }

    @Test func aSnapshotKeepsTheUnlinks() throws {
        // The unlink is in the snapshot; the identify it withdraws arrives after the restore.
        let unlink = P.unlink("u1", "anon", "p", P.t0 + 10 * P.day)
        let others = journey.filter { $0.id != "i1" }
        var restored = try Projector(deserializing: P.fold(others + [unlink]).serialize())
        restored.apply(P.identify("i1", "anon", "p", P.t0 + 2 * UnlinkTests.h))
        #expect(!restored.hasPendingSplits && restored.clusterCount == 2 && canonical(restored, "anon") == "anon")
    }

    @Test func aWithdrawnIdentifyDeclaresNoAliasInAnyFoldOrAfterASnapshot() throws {
        let t = P.t0
        // A → Y (t1) and A → X (t2) link; Y → X (t3) is withdrawn (t4). Sinks are X and Y (Y is
        // the subject of no linking identify), and the earliest linking identify naming one
        // names Y. Were Y still taken for an alias, X would be the one sink.
        let events = [P.identify("i1", "A", "Y", t + 1), P.identify("i2", "A", "X", t + 2),
                      P.identify("i3", "Y", "X", t + 3), P.unlink("u1", "Y", "X", t + 4)]
        let p = P.fold(events)
        #expect(p.clusterCount == 1 && canonical(p, "A") == "Y" && aliases(p, "X") == ["A", "X"])
        let loaded = try Projector(deserializing: p.serialize())
        #expect(canonical(loaded, "X") == "Y" && loaded.unlinks.count == 1)
        #expect(!Projector.isIdentifiedSubject(loaded.ids.lookup("Y")!, loaded.identifiedSubjects))
        #expect(Projector.isIdentifiedSubject(loaded.ids.lookup("A")!, loaded.identifiedSubjects))
        try UnlinkTests.expectFoldsAgree(events)
    }
}
