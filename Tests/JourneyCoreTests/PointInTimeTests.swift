import Testing
@testable import JourneyCore

@Suite("Point-in-time as_of (SPEC §3.2 v2)")
struct PointInTimeTests {
    typealias P = PJ
    let t = PJ.t0
    let d = PJ.day

    @Test func anEventCountsFromItsOwnInstant() {
        let p = P.fold([P.ev("a", .webVisit, "p", t), P.ev("b", .chat, "p", t + 10)])
        let at = p.patient(id: "p", asOf: t + 10)!
        #expect(at.inquiries == 1 && at.stage == .inquiring)
        #expect(at.lastTouch == .init(at: t + 10, type: .chat, channel: .chat))
        #expect(at.counts[Int(EventType.chat.rawValue)] == 1)
        let before = p.patient(id: "p", asOf: t + 9)!
        #expect(before.inquiries == 0 && before.stage == .prospect)
        #expect(before.lastTouch == .init(at: t, type: .webVisit, channel: .web))
        #expect(before.counts[Int(EventType.chat.rawValue)] == 0)
        #expect(before.channels.reduce(0, +) == 1)
    }

    @Test func beforeTheFirstEventAnEmptyJourney() {
        let p = P.fold([P.ev("v", .visit, "p", t, amountCents: 500), P.identify("i", "cookie", "p", t + 1)])
        let s = p.patient(id: "cookie", asOf: t - 1)!
        let expected = #"{"patient":"p","aliases":["cookie"],"as_of":"2025-12-31T23:59:59.999Z","stage":"prospect","risk":[],"#
            + #""first_touch":null,"last_touch":null,"acquisition_channel":null,"#
            + #""counts":{"search_hit":0,"web_visit":0,"call":0,"chat":0,"form":0,"message_sent":0,"message_opened":0,"booking":0,"cancellation":0,"no_show":0,"visit":0,"referral":0,"identify":0,"handoff":0,"eligibility":0,"unlink":0,"consent":0},"#
            + #""channels":{"search":0,"web":0,"social":0,"referral":0,"phone":0,"sms":0,"email":0,"chat":0,"portal":0,"in_person":0},"#
            + #""inquiries":0,"bookings":0,"visits":0,"no_shows":0,"cancellations":0,"first_visit_at":null,"last_visit_at":null,"#
            + #""lifetime_value":0.00,"messages_sent":0,"messages_opened":0,"open_rate":null,"referred_by":null,"referrals_made":0,"referrals_converted":0}"#
        #expect(s.json == expected)
        // The empty handoff context: no conversation, nothing recent, consent {}.
        let h = p.handoff(id: "p", asOf: t - 1)!
        #expect(h.json == #"{"patient":"p","aliases":["cookie"],"as_of":"2025-12-31T23:59:59.999Z","stage":"prospect","risk":[],"acquisition_channel":null,"eligibility":"unknown","consent":{},"no_shows":0,"cancellations":0,"referred_by":null,"conversation":null,"conversation_status":null,"concern":null,"channels":[],"contacts":0,"last_agent":null,"handoffs":0,"attrs":null,"upcoming":null,"recent":[]}"#)
        // Ids never named by any event are still not found.
        #expect(p.patient(id: "nobody", asOf: t - 1) == nil)
        #expect(p.handoff(id: "nobody", asOf: t + d) == nil)
    }

    @Test func identityUsesEveryIdentifyWhateverTheInstant() {
        // The identify comes a day after the web visit: at the visit's instant the cookie is
        // already the patient's alias (identity is not point-in-time), but the identify event
        // itself does not count yet.
        let p = P.fold([P.ev("w", .webVisit, "cookie", t), P.identify("i", "cookie", "pat", t + d)])
        let s = p.patient(id: "cookie", asOf: t)!
        #expect(s.patient == "pat" && s.aliases == ["cookie"])
        #expect(s.counts[Int(EventType.webVisit.rawValue)] == 1)
        #expect(s.counts[Int(EventType.identify.rawValue)] == 0)
    }

    @Test func anIdNamedOnlyAsAReferrer() {
        let p = P.fold([P.ev("r", .referral, "kid", t, referrer: "mom"), P.ev("v", .visit, "kid", t + 5 * d)])
        // "mom" has no event of her own: an empty journey, not not_found.
        let early = p.patient(id: "mom", asOf: t - 1)!
        #expect(early.stage == .prospect && early.firstTouch == nil && early.referralsMade == 0)
        // The referral counts from its instant; the conversion from the visit's.
        #expect(p.patient(id: "mom", asOf: t)!.referralsMade == 1)
        #expect(p.patient(id: "mom", asOf: t)!.referralsConverted == 0)
        #expect(p.patient(id: "mom", asOf: t + 5 * d - 1)!.referralsConverted == 0)
        #expect(p.patient(id: "mom", asOf: t + 5 * d)!.referralsConverted == 1)
        #expect(p.patient(id: "kid", asOf: t - 1)!.referredBy == nil)
        #expect(p.patient(id: "kid", asOf: t)!.referredBy == "mom")
        #expect(p.handoff(id: "kid", asOf: t - 1)!.referredBy == nil)
        #expect(p.handoff(id: "kid", asOf: t)!.referredBy == "mom")
    }

    @Test func referralsMadeBeforeTheReferredClustersReferral() {
        // kid's referral by mom is at t + 3 d; mom's own events start at t.
        let p = P.fold([
            P.ev("m", .webVisit, "mom", t),
            P.ev("k", .call, "kid", t + d),
            P.ev("r", .referral, "kid", t + 3 * d, referrer: "mom"),
        ])
        #expect(p.patient(id: "mom", asOf: t + 3 * d - 1)!.referralsMade == 0)
        #expect(p.patient(id: "kid", asOf: t + 3 * d - 1)!.referredBy == nil)
        #expect(p.patient(id: "mom", asOf: t + 3 * d)!.referralsMade == 1)
    }

    @Test func lapsedMeasuresFromAsOfWithLaterVisitsHidden() {
        let year = 365 * d
        let p = P.fold([P.ev("v1", .visit, "p", t), P.ev("v2", .visit, "p", t + 400 * d)])
        #expect(p.patient(id: "p", asOf: t + year)!.stage == .active)
        #expect(p.patient(id: "p", asOf: t + year + 1)!.stage == .lapsed)
        #expect(p.patient(id: "p", asOf: t + year + 1)!.risk == [.lapsed])
        #expect(p.patient(id: "p", asOf: t + year + 1)!.visits == 1)
        #expect(p.patient(id: "p", asOf: t + 400 * d)!.stage == .active)
        #expect(p.patient(id: "p", asOf: t + 400 * d)!.visits == 2)
    }

    @Test func overdueWithAFourthVisitStillAhead() {
        // Visits at 0, 10 d, 20 d and 50 d. Up to 50 d the mean gap is 10 d: overdue past 40 d.
        let p = P.fold([
            P.ev("v1", .visit, "p", t), P.ev("v2", .visit, "p", t + 10 * d),
            P.ev("v3", .visit, "p", t + 20 * d), P.ev("v4", .visit, "p", t + 50 * d),
        ])
        #expect(p.patient(id: "p", asOf: t + 40 * d)!.risk == [])
        #expect(p.patient(id: "p", asOf: t + 40 * d + 1)!.risk == [.overdue])
        #expect(p.patient(id: "p", asOf: t + 50 * d - 1)!.risk == [.overdue])
        // From 50 d on: 4 visits, mean gap 50/3 d, overdue only past 50 d + 2·50/3 d.
        #expect(p.patient(id: "p", asOf: t + 50 * d)!.risk == [])
        #expect(p.handoff(id: "p", asOf: t + 40 * d + 1)!.risk == [.overdue])
    }

    @Test func cancelledNotRebookedUntilTheRebooking() {
        let p = P.fold([
            P.ev("b1", .booking, "p", t), P.ev("c1", .cancellation, "p", t + d), P.ev("b2", .booking, "p", t + 20 * d),
        ])
        #expect(p.patient(id: "p", asOf: t + 15 * d - 1)!.risk == [])
        #expect(p.patient(id: "p", asOf: t + 15 * d)!.risk == [.cancelledNotRebooked])
        #expect(p.patient(id: "p", asOf: t + 20 * d - 1)!.risk == [.cancelledNotRebooked])
        #expect(p.patient(id: "p", asOf: t + 20 * d)!.risk == [])
        let h = p.handoff(id: "p", asOf: t + 15 * d)!
        #expect(h.risk == [.cancelledNotRebooked] && h.cancellations == 1 && h.noShows == 0)
    }

    @Test func noShowNotRebookedUntilTheVisit() {
        let p = P.fold([P.ev("b1", .booking, "p", t), P.ev("n1", .noShow, "p", t + d), P.ev("v", .visit, "p", t + 10 * d)])
        #expect(p.patient(id: "p", asOf: t + 8 * d - 1)!.risk == [])
        #expect(p.patient(id: "p", asOf: t + 8 * d)!.risk == [.noShowNotRebooked])
        #expect(p.patient(id: "p", asOf: t + 10 * d - 1)!.risk == [.noShowNotRebooked])
        #expect(p.patient(id: "p", asOf: t + 10 * d)!.risk == [])
        #expect(p.handoff(id: "p", asOf: t + 8 * d)!.noShows == 1)
        #expect(p.handoff(id: "p", asOf: t + d - 1)!.noShows == 0)
    }

    @Test func atRiskListsTheRisksOfThatInstant() {
        let p = P.fold([
            P.ev("b1", .booking, "p", t), P.ev("c1", .cancellation, "p", t + d), P.ev("b2", .booking, "p", t + 20 * d),
            P.ev("v", .visit, "q", t),
        ])
        func listed(_ asOf: Int64) -> [String] { p.atRisk(asOf: asOf, limit: 10, after: nil).patients.map(\.patient) }
        #expect(listed(t + 15 * d) == ["p"])
        #expect(listed(t + 20 * d) == [])
        #expect(listed(t + 365 * d) == [])
        #expect(listed(t + 365 * d + 1) == ["q"])
        #expect(listed(t - 1) == [])
    }

    @Test func handoffAsItStoodThen() {
        let p = P.fold([
            P.ev("a", .chat, "p", t, agent: "bot:intake", conversation: "c1", concern: "ache"),
            P.ev("b", .booking, "p", t + 5, conversation: "c2", appointment: "A", scheduledFor: t + 10 * d),
            P.ev("e", .eligibility, "p", t + 6, status: .denied),
        ])
        let before = p.handoff(id: "p", asOf: t + 4)!
        #expect(before.conversation == "c1" && before.concern == "ache" && before.lastAgent == "bot:intake")
        #expect(before.upcoming == nil)
        #expect(before.recent.count == 1 && before.eligibility == "unknown")
        let after = p.handoff(id: "p", asOf: t + 6)!
        #expect(after.conversation == "c2" && after.concern == nil)
        #expect(after.upcoming?.appointment == "A")
        #expect(after.recent.map(\.type) == [.booking, .chat])
        #expect(after.eligibility == "denied")
        #expect(p.handoff(id: "p", asOf: t + 5)!.eligibility == "unknown")
    }

    @Test func theReusableStateMatchesTheQuery() {
        // `journeyState(root:asOf:facts:)` with one buffer across clusters and instants.
        let p = P.fold([
            P.ev("a", .chat, "x", t), P.ev("b", .visit, "x", t + d, amountCents: 100),
            P.ev("c", .referral, "y", t + 2 * d, referrer: "x"), P.ev("d", .visit, "y", t + 3 * d),
        ])
        var facts: [Fact] = []
        for asOf in [t - 1, t, t + d, t + 2 * d, t + 3 * d, t + 400 * d] {
            for id in ["x", "y"] {
                let root = p.root(of: id)!
                #expect(p.journeyState(root: root, asOf: asOf, facts: &facts) == p.patient(id: id, asOf: asOf)!)
            }
        }
        #expect(p.patient(id: "x", asOf: t + 3 * d)!.referralsConverted == 1)
    }
}
