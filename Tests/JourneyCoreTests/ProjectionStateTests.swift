import Testing
@testable import JourneyCore

@Suite("Journey state (SPEC §3.2)")
struct ProjectionStateTests {
    typealias P = PJ
    let t = PJ.t0
    let d = PJ.day

    func state(_ events: [Event], asOf: Int64, id: String = "p") -> JourneyState {
        P.fold(events).patient(id: id, asOf: asOf)!
    }

    @Test func touchesCountsAndChannels() {
        let events = [
            P.ev("e3", .call, "p", t + 30, direction: .outbound),
            P.ev("e1", .searchHit, "p", t + 10, source: "google", medium: "cpc", campaign: "spring", term: "dentist"),
            P.ev("e0", .eligibility, "p", t, status: .verified),  // not a touch, earlier
            P.ev("e2", .webVisit, "p", t + 20, channel: .social),
            P.ev("e4", .handoff, "p", t + 40, toChannel: .phone),  // not a touch
            P.ev("e5", .chat, "p", t + 50),
            P.ev("e6", .form, "p", t + 60),
            P.ev("e7", .call, "p", t + 70),
        ]
        let s = state(events, asOf: t + 70)  // the latest event's `at`: it counts (inclusive)
        #expect(s.firstTouch == .init(at: t + 10, type: .searchHit, channel: .search, source: "google",
                                      medium: "cpc", campaign: "spring", term: "dentist"))
        #expect(s.lastTouch == .init(at: t + 70, type: .call, channel: .phone))
        #expect(s.acquisitionChannel == .search)
        #expect(s.counts[Int(EventType.call.rawValue)] == 2)
        #expect(s.counts[Int(EventType.handoff.rawValue)] == 1)
        #expect(s.counts[Int(EventType.eligibility.rawValue)] == 1)
        #expect(s.channels[Int(Channel.phone.rawValue)] == 2)  // handoff's to_channel does not count
        #expect(s.channels[Int(Channel.social.rawValue)] == 1)
        #expect(s.channels[Int(Channel.web.rawValue)] == 1)
        #expect(s.channels.reduce(0, +) == 6)
        #expect(s.inquiries == 3)  // chat, form, inbound call; not the outbound call
        #expect(s.stage == .inquiring)
    }

    @Test func noTouchesGiveNulls() {
        let s = state([P.ev("e0", .eligibility, "p", t, status: .pending)], asOf: t)
        #expect(s.firstTouch == nil && s.lastTouch == nil && s.acquisitionChannel == nil)
        #expect(s.stage == .prospect)
        #expect(s.openRate == nil)
        #expect(s.json.contains(#""first_touch":null,"last_touch":null,"acquisition_channel":null"#))
    }

    @Test func jsonShape() {
        let events = [
            P.ev("e1", .visit, "p", t, amountCents: 12050),
            P.ev("e2", .visit, "p", t + d, amountCents: 5),
            P.ev("a1", .messageSent, "p", t, message: "m1"),  // "a1" < "e1": first in timeline
            P.ev("m2", .messageSent, "p", t, message: "m2"),
            P.ev("m3", .messageSent, "p", t, message: "m3"),
            P.ev("o1", .messageOpened, "p", t + 1, message: "m1"),
        ]
        let s = state(events, asOf: t + 2 * d)
        let expected = #"{"patient":"p","aliases":[],"as_of":"2026-01-03T00:00:00.000Z","stage":"active","risk":[],"#
            + #""first_touch":{"at":"2026-01-01T00:00:00.000Z","type":"message_sent","channel":"email","source":null,"medium":null,"campaign":null,"term":null},"#
            + #""last_touch":{"at":"2026-01-02T00:00:00.000Z","type":"visit","channel":"in_person"},"acquisition_channel":"email","#
            + #""counts":{"search_hit":0,"web_visit":0,"call":0,"chat":0,"form":0,"message_sent":3,"message_opened":1,"booking":0,"cancellation":0,"no_show":0,"visit":2,"referral":0,"identify":0,"handoff":0,"eligibility":0,"unlink":0,"consent":0},"#
            + #""channels":{"search":0,"web":0,"social":0,"referral":0,"phone":0,"sms":0,"email":4,"chat":0,"portal":0,"in_person":2},"#
            + #""inquiries":0,"bookings":0,"visits":2,"no_shows":0,"cancellations":0,"first_visit_at":"2026-01-01T00:00:00.000Z","last_visit_at":"2026-01-02T00:00:00.000Z","#
            + #""lifetime_value":120.55,"messages_sent":3,"messages_opened":1,"open_rate":0.3333333333333333,"referred_by":null,"referrals_made":0,"referrals_converted":0}"#
        #expect(s.json == expected)
    }

    @Test func messagesOpenedCountsDistinctMatchingIds() {
        let events = [
            P.ev("s1", .messageSent, "p", t, message: "a"),
            P.ev("s2", .messageSent, "p", t + 1, message: "b"),
            P.ev("o1", .messageOpened, "p", t + 2, message: "a"),
            P.ev("o2", .messageOpened, "p", t + 3, message: "a"),  // same message twice
            P.ev("o3", .messageOpened, "p", t + 4, message: "zzz"),  // no matching send
            P.ev("o4", .messageOpened, "q", t + 4, message: "b"),  // another cluster
        ]
        let s = state(events, asOf: t + 4)
        #expect(s.messagesSent == 2)
        #expect(s.messagesOpened == 1)
        #expect(s.openRate == 0.5)
        #expect(s.json.contains(#""open_rate":0.5,"#))
    }

    @Test func stageOrder() {
        #expect(state([P.ev("a", .webVisit, "p", t)], asOf: t).stage == .prospect)
        #expect(state([P.ev("a", .call, "p", t, direction: .outbound)], asOf: t).stage == .prospect)
        #expect(state([P.ev("a", .call, "p", t)], asOf: t).stage == .inquiring)
        #expect(state([P.ev("a", .chat, "p", t), P.ev("b", .booking, "p", t + 1)], asOf: t + 1).stage == .booked)
        #expect(state([P.ev("b", .booking, "p", t), P.ev("v", .visit, "p", t + 1)], asOf: t + 1).stage == .active)
        // 1 ms before the visit, the journey stood at the booking.
        #expect(state([P.ev("b", .booking, "p", t), P.ev("v", .visit, "p", t + 1)], asOf: t).stage == .booked)
    }

    @Test func lapsedBoundaryIsStrict() {
        let events = [P.ev("v", .visit, "p", t)]
        let year = 365 * d
        #expect(state(events, asOf: t + year).stage == .active)
        #expect(state(events, asOf: t + year).risk == [])
        #expect(state(events, asOf: t + year + 1).stage == .lapsed)
        #expect(state(events, asOf: t + year + 1).risk == [.lapsed])
        // A point-in-time view: 1 ms before the visit there is none (an empty journey).
        #expect(state(events, asOf: t - 1).stage == .prospect)
        #expect(state(events, asOf: t - 1).visits == 0)
    }

    @Test func overdueBoundaryIsExact() {
        // Visits at 0, 10 d, 20 d: mean interval 10 d; overdue when as_of − last > 20 d.
        let events = [P.ev("v1", .visit, "p", t), P.ev("v2", .visit, "p", t + 10 * d), P.ev("v3", .visit, "p", t + 20 * d)]
        #expect(state(events, asOf: t + 40 * d).risk == [])
        #expect(state(events, asOf: t + 40 * d + 1).risk == [.overdue])
        // A non-integer mean: visits at 0, 1 ms, 2 ms, 4 ms → 2·4/3 = 2.67 ms: 3 ms late is overdue, 2 ms not.
        let odd = [P.ev("a", .visit, "p", t), P.ev("b", .visit, "p", t + 1), P.ev("c", .visit, "p", t + 2), P.ev("e", .visit, "p", t + 4)]
        #expect(state(odd, asOf: t + 6).risk == [])
        #expect(state(odd, asOf: t + 7).risk == [.overdue])
        // Two visits never make overdue.
        #expect(state(Array(events.prefix(2)), asOf: t + 300 * d).risk == [])
    }

    @Test func cancelledNotRebooked() {
        let base = [P.ev("b1", .booking, "p", t), P.ev("c1", .cancellation, "p", t + d)]
        #expect(state(base, asOf: t + 15 * d - 1).risk == [])
        #expect(state(base, asOf: t + 15 * d).risk == [.cancelledNotRebooked])
        // A booking after the cancellation clears it.
        let rebooked = base + [P.ev("b2", .booking, "p", t + 2 * d)]
        #expect(state(rebooked, asOf: t + 100 * d).risk == [])
        // Same `at`: timeline order by id bytes decides ("b0" < "c1": booking before; "d" > "c1": after).
        let sameAtBefore = base + [P.ev("b0", .booking, "p", t + d)]
        #expect(state(sameAtBefore, asOf: t + 100 * d).risk == [.cancelledNotRebooked])
        let sameAtAfter = base + [P.ev("d", .booking, "p", t + d)]
        #expect(state(sameAtAfter, asOf: t + 100 * d).risk == [])
        // A visit after the cancellation clears it too.
        let visited = base + [P.ev("v", .visit, "p", t + 3 * d)]
        #expect(!state(visited, asOf: t + 100 * d).risk.contains(.cancelledNotRebooked))
        // Only the latest cancellation counts.
        let cancelOnly = [P.ev("c1", .cancellation, "p", t)]
        #expect(state(cancelOnly, asOf: t + 14 * d).risk == [.cancelledNotRebooked])
    }

    @Test func noShowNotRebooked() {
        let base = [P.ev("b1", .booking, "p", t), P.ev("n1", .noShow, "p", t + d)]
        #expect(state(base, asOf: t + 8 * d - 1).risk == [])
        #expect(state(base, asOf: t + 8 * d).risk == [.noShowNotRebooked])
        let rebooked = base + [P.ev("b2", .booking, "p", t + 2 * d)]
        #expect(state(rebooked, asOf: t + 100 * d).risk == [])
    }

    @Test func decliningEngagement() {
        func sends(_ n: Int) -> [Event] {
            (0..<n).map { P.ev("s\($0)", .messageSent, "p", t + Int64($0) * d, message: "m\($0)") }
        }
        // 4 sends, first opened, last 3 unopened → declining.
        let four = sends(4) + [P.ev("o0", .messageOpened, "p", t + 1, message: "m0")]
        let late = t + 100 * d
        #expect(state(four, asOf: late).risk == [.decliningEngagement])
        // 1 ms before the fourth send, three sends only.
        #expect(state(four, asOf: t + 3 * d - 1).risk == [])
        #expect(state(four, asOf: t + 3 * d).risk == [.decliningEngagement])
        // 3 sends only → no.
        let three = sends(3) + [P.ev("o0", .messageOpened, "p", t + 1, message: "m0")]
        #expect(state(three, asOf: late).risk == [])
        // One of the latest three opened (even if opened much later) → no.
        let recentOpened = four + [P.ev("o3", .messageOpened, "p", t + 50 * d, message: "m3")]
        #expect(state(recentOpened, asOf: late).risk == [])
        // Before that open, it was declining.
        #expect(state(recentOpened, asOf: t + 50 * d - 1).risk == [.decliningEngagement])
        // None opened earlier → no.
        #expect(state(sends(5), asOf: late).risk == [])
        // 5 sends, only the second opened → yes (an earlier one, not necessarily the first).
        let five = sends(5) + [P.ev("o1", .messageOpened, "p", t + 2 * d, message: "m1")]
        #expect(state(five, asOf: late).risk == [.decliningEngagement])
    }

    @Test func riskListOrder() {
        // lapsed + overdue + cancelled + no_show + declining all at once.
        var events = [P.ev("v1", .visit, "p", t), P.ev("v2", .visit, "p", t + d), P.ev("v3", .visit, "p", t + 2 * d),
                      P.ev("n1", .noShow, "p", t + 3 * d), P.ev("c1", .cancellation, "p", t + 4 * d)]
        events += (0..<4).map { P.ev("s\($0)", .messageSent, "p", t + Int64($0), message: "m\($0)") }
        events.append(P.ev("o", .messageOpened, "p", t + 10, message: "m0"))
        let s = state(events, asOf: t + 400 * d)
        #expect(s.risk == [.lapsed, .overdue, .cancelledNotRebooked, .noShowNotRebooked, .decliningEngagement])
        #expect(s.stage == .lapsed)
    }

    @Test func duplicateEventsDoNotCrash() {
        // The log dedups ids; the projector must merely survive a repeat.
        let e = P.ev("v", .visit, "p", t, amountCents: 100)
        let s = state([e, e, P.identify("i", "p", "p", t), P.identify("i", "p", "p", t)], asOf: t)
        #expect(s.visits == 2)
        #expect(s.patient == "p")
    }

    @Test func extremeTimestampsDoNotTrap() {
        let big = Int64.max / 2, small = Int64.min / 2
        let events = [
            P.ev("a", .webVisit, "p", small), P.ev("b", .chat, "p", big), P.ev("c", .visit, "p", small, amountCents: .max),
            P.ev("d", .visit, "p", big, amountCents: .max), P.ev("e", .visit, "p", big),
            P.ev("f", .booking, "p", small, scheduledFor: big), P.ev("g", .form, "p", big),
        ]
        let p = P.fold(events)
        for asOf in [Int64.min, 0, Int64.max] {
            let s = p.patient(id: "p", asOf: asOf)!
            // Before every event: an empty journey; from the first visit on, the saturated sum.
            #expect(s.lifetimeValueCents == (asOf == .min ? 0 : .max))
            _ = s.json
            _ = p.handoff(id: "p", asOf: asOf)!.json
            _ = p.atRisk(asOf: asOf, limit: 1, after: nil).json
        }
        let r = p.funnel(try! FunnelQuery(steps: [.touch, .inquiry, .touch], windowMs: .max, by: .none))
        #expect(r.groups[0].steps.map(\.count) == [1, 1, 1])
        #expect(r.groups[0].steps[1].medianMs == .max)  // max/2 − min/2 is exactly Int64.max
    }

    @Test func referrals() {
        let events = [
            // "kid" referred by "mom-cookie", an alias of "mom".
            P.ev("r1", .referral, "kid", t + 10, referrer: "mom-cookie"),
            P.ev("r0", .referral, "kid", t + 20, referrer: "dad"),  // later: ignored
            P.identify("i1", "mom-cookie", "mom", t + 30),
            // "friend" referred by "mom" directly, and visited.
            P.ev("r2", .referral, "friend", t, referrer: "mom"),
            P.ev("v", .visit, "friend", t + d),
            // "friend2" cookie referred by mom, then identified as "friend": same cluster, counted once.
            P.ev("r3", .referral, "friend2", t - 5, referrer: "mom"),
            P.identify("i2", "friend2", "friend", t + 40),
            // mom referred herself: not counted as "other cluster".
            P.ev("r4", .referral, "mom", t, referrer: "mom-cookie"),
        ]
        let p = P.fold(events)
        let late = t + 2 * d
        let kid = p.patient(id: "kid", asOf: late)!
        #expect(kid.referredBy == "mom")
        let mom = p.patient(id: "mom-cookie", asOf: late)!
        #expect(mom.referredBy == "mom")
        #expect(mom.referralsMade == 2)
        #expect(mom.referralsConverted == 1)
        #expect(p.patient(id: "dad", asOf: late)!.referralsMade == 0)
        // A later, earlier referral changes the referrer.
        var q = p
        q.apply(P.ev("r5", .referral, "kid", t, referrer: "dad"))
        #expect(q.patient(id: "kid", asOf: late)!.referredBy == "dad")
        #expect(q.patient(id: "dad", asOf: late)!.referralsMade == 1)
        #expect(q.patient(id: "mom", asOf: late)!.referralsMade == 1)
    }
}
