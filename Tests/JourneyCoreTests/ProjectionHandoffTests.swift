import Testing
@testable import JourneyCore

@Suite("Warm-handoff context (SPEC §3.3)")
struct ProjectionHandoffTests {
    typealias P = PJ
    let t = PJ.t0
    let d = PJ.day

    @Test func withoutConversation() {
        let p = P.fold([P.ev("a", .webVisit, "p", t)])
        let h = p.handoff(id: "p", asOf: t)!
        #expect(h.json == #"{"patient":"p","aliases":[],"as_of":"2026-01-01T00:00:00.000Z","stage":"prospect","risk":[],"acquisition_channel":"web","eligibility":"unknown","consent":{},"no_shows":0,"cancellations":0,"referred_by":null,"conversation":null,"conversation_status":null,"concern":null,"channels":[],"contacts":0,"last_agent":null,"handoffs":0,"attrs":null,"upcoming":null,"recent":[{"at":"2026-01-01T00:00:00.000Z","type":"web_visit","channel":"web","agent":null,"concern":null}]}"#)
    }

    @Test func latestConversationAndItsFields() {
        let events = [
            P.ev("e1", .chat, "cookie", t, agent: "bot:intake", conversation: "c1", concern: "tooth ache"),
            P.ev("e2", .handoff, "cookie", t + 1, agent: "bot:intake", conversation: "c1", toChannel: .phone),
            P.ev("e3", .call, "pat", t + 2, agent: "staff:amy", conversation: "c1", concern: "molar pain, left"),
            P.ev("e4", .form, "pat", t + 3, conversation: "c1", concern: ""),  // empty: ignored for concern
            P.ev("e5", .chat, "pat", t + 4, channel: .sms, conversation: "c1"),
            P.ev("e6", .chat, "pat", t + 5, channel: .phone, conversation: "c1"),  // phone again: not repeated
            P.ev("x1", .chat, "pat", t - 10, conversation: "old", resolved: true),
            P.identify("i", "cookie", "pat", t + 6),
            P.ev("el1", .eligibility, "pat", t + 7, status: .pending),
            P.ev("el2", .eligibility, "pat", t + 8, status: .denied),
            P.ev("el0", .eligibility, "pat", t + 9 - 10, status: .verified),
        ]
        let h = P.fold(events).handoff(id: "cookie", asOf: t + 9)!
        #expect(h.patient == "pat")
        #expect(h.aliases == ["cookie"])
        #expect(h.eligibility == "denied")
        #expect(h.conversation == "c1")
        #expect(h.conversationStatus == "open")
        #expect(h.concern == "molar pain, left")
        #expect(h.channels == [.chat, .phone, .web, .sms])  // handoff is not a touch
        #expect(h.contacts == 5)
        #expect(h.lastAgent == "staff:amy")
        #expect(h.handoffs == 1)
        #expect(h.acquisitionChannel == .chat)
        #expect(h.stage == .inquiring)
    }

    @Test func resolvedConversation() {
        let events = [
            P.ev("e1", .chat, "p", t, conversation: "c1"),
            P.ev("e2", .chat, "p", t + 1, conversation: "c1", resolved: true),
            P.ev("e3", .chat, "p", t + 2, conversation: "c1", resolved: false),
        ]
        let h = P.fold(events).handoff(id: "p", asOf: t + 2)!
        #expect(h.conversationStatus == "resolved")
    }

    @Test func upcomingAppointment() {
        let events = [
            P.ev("b1", .booking, "p", t, appointment: "A1", scheduledFor: t + 5 * d, location: "north", provider: "dr-a"),
            P.ev("b2", .booking, "p", t, appointment: "A2", scheduledFor: t + 3 * d),  // cancelled
            P.ev("c2", .cancellation, "p", t + d, appointment: "A2"),
            P.ev("b3", .booking, "p", t, appointment: "A3", scheduledFor: t + 2 * d),  // no-show
            P.ev("n3", .noShow, "p", t + 2 * d, appointment: "A3"),
            P.ev("b4", .booking, "p", t, appointment: "A4", scheduledFor: t + 1 * d),  // visited
            P.ev("v4", .visit, "p", t + 1 * d, appointment: "A4"),
            P.ev("b5", .booking, "p", t, appointment: "A5", scheduledFor: t + 9 * d, location: "south"),
        ]
        let p = P.fold(events)
        // Before the visit of A4 (at 1 d), A4 is the next one; from it on, A1.
        #expect(p.handoff(id: "p", asOf: t)!.upcoming?.appointment == "A4")
        let u = p.handoff(id: "p", asOf: t + 2 * d)!.upcoming
        #expect(u == .init(appointment: "A1", scheduledFor: t + 5 * d, location: "north", provider: "dr-a"))
        // Strictly after as_of.
        #expect(p.handoff(id: "p", asOf: t + 5 * d - 1)!.upcoming?.appointment == "A1")
        #expect(p.handoff(id: "p", asOf: t + 5 * d)!.upcoming?.appointment == "A5")
        #expect(p.handoff(id: "p", asOf: t + 9 * d)!.upcoming == nil)
        #expect(p.handoff(id: "p", asOf: t + 2 * d)!.json.contains(#""upcoming":{"appointment":"A1","scheduled_for":"2026-01-06T00:00:00.000Z","location":"north","provider":"dr-a"}"#))
    }

    @Test func upcomingWithoutAppointmentIdAndTies() {
        let events = [
            P.ev("b2", .booking, "p", t + 1, scheduledFor: t + 5 * d, provider: "later-booking"),
            P.ev("b1", .booking, "p", t, scheduledFor: t + 5 * d, provider: "earlier-booking"),
            P.ev("b0", .booking, "p", t, location: "no schedule"),  // no scheduled_for: never upcoming
            P.ev("c", .cancellation, "p", t + 2),  // names no appointment: cancels nothing
        ]
        let u = P.fold(events).handoff(id: "p", asOf: t)!.upcoming
        // Equal scheduled_for: the booking earliest in timeline order wins; appointment is null.
        #expect(u == .init(appointment: nil, scheduledFor: t + 5 * d, location: nil, provider: "earlier-booking"))
    }

    @Test func recentIsTheTenLatestTouchesNewestFirst() {
        var events = (0..<12).map { P.ev("w\($0 + 10)", .webVisit, "p", t + Int64($0), agent: $0 == 11 ? "bot:web" : nil, concern: $0 == 11 ? "price" : nil) }
        events.append(P.ev("h", .handoff, "p", t + 100))  // not a touch
        events.append(P.ev("el", .eligibility, "p", t + 100, status: .verified))
        let h = P.fold(events).handoff(id: "p", asOf: t + 100)!
        #expect(h.recent.count == 10)
        #expect(h.recent.map(\.at) == (2..<12).reversed().map { t + Int64($0) })
        #expect(h.recent[0].agent == "bot:web" && h.recent[0].concern == "price")
        #expect(h.recent[1].agent == nil)
        #expect(h.eligibility == "verified")
    }
}

@Suite("Contact resolution (SPEC §3.5)")
struct ProjectionContactsTests {
    typealias P = PJ
    let t = PJ.t0

    @Test func perChannel() {
        let events = [
            // c1: first contact a chat that resolves it at once → chat, resolved, FCR; one handoff.
            P.ev("a1", .chat, "p", t, conversation: "c1", resolved: true),
            P.ev("a2", .handoff, "p", t + 1, conversation: "c1"),
            // c2: web visit first (not a contact), then a call, resolved by a later chat → phone.
            P.ev("b0", .webVisit, "p", t, conversation: "c2", resolved: true),
            P.ev("b1", .call, "p", t + 1, conversation: "c2"),
            P.ev("b2", .chat, "p", t + 2, conversation: "c2", resolved: true),
            // c2 in another cluster is another conversation: form, unresolved.
            P.ev("c1", .form, "q", t, conversation: "c2"),
            // c3: no contacts → left out.
            P.ev("d1", .webVisit, "q", t, conversation: "c3", resolved: true),
            // c4: call on sms channel, resolved by the call itself → FCR.
            P.ev("e1", .call, "q", t + 5, channel: .sms, conversation: "c4", resolved: true),
            P.ev("e2", .handoff, "q", t + 6, conversation: "c4"),
            P.ev("e3", .handoff, "q", t + 7, conversation: "c4"),
        ]
        let r = P.fold(events).contacts()
        #expect(r.json == #"{"channels":[{"channel":"chat","conversations":1,"resolved":1,"first_contact_resolved":1,"handoffs":1},{"channel":"phone","conversations":1,"resolved":1,"first_contact_resolved":0,"handoffs":0},{"channel":"sms","conversations":1,"resolved":1,"first_contact_resolved":1,"handoffs":2},{"channel":"web","conversations":1,"resolved":0,"first_contact_resolved":0,"handoffs":0}]}"#)
    }

    @Test func conversationSpansAliases() {
        let events = [
            P.ev("a1", .chat, "cookie", t, conversation: "c1"),
            P.ev("a2", .call, "pat", t + 1, conversation: "c1", resolved: true),
            P.identify("i", "cookie", "pat", t + 2),
        ]
        let r = P.fold(events).contacts()
        #expect(r.channels == [.init(channel: .chat, conversations: 1, resolved: 1, firstContactResolved: 0, handoffs: 0)])
        #expect(P.fold([]).contacts().json == #"{"channels":[]}"#)
    }
}

@Suite("At-risk pages")
struct ProjectionAtRiskTests {
    typealias P = PJ
    let t = PJ.t0

    @Test func paging() {
        let events = ["b", "a", "d", "c", "B"].enumerated().map { P.ev("v\($0.offset)", .visit, $0.element, t) }
            + [P.ev("ok", .visit, "aa", t + 400 * P.day)]
        let p = P.fold(events)
        let asOf = t + 366 * P.day
        let first = p.atRisk(asOf: asOf, limit: 2, after: nil)
        #expect(first.patients.map(\.patient) == ["B", "a"])
        #expect(first.next == "a")
        let second = p.atRisk(asOf: asOf, limit: 2, after: "a")
        #expect(second.patients.map(\.patient) == ["b", "c"])
        #expect(second.next == "c")
        let last = p.atRisk(asOf: asOf, limit: 2, after: "c")
        #expect(last.patients.map(\.patient) == ["d"])
        #expect(last.next == nil)
        let exact = p.atRisk(asOf: asOf, limit: 5, after: nil)
        #expect(exact.patients.count == 5 && exact.next == nil)
        #expect(last.json == #"{"as_of":"2027-01-02T00:00:00.000Z","patients":[{"patient":"d","stage":"lapsed","risk":["lapsed"]}],"next":null}"#)
    }

    @Test func pagesFollowByteOrderForAnyCursor() {
        // Multi-byte ids sort after ASCII by bytes; a prefix sorts before its extensions; a
        // cursor need not be an id.
        let names = ["é", "z", "ab", "a", "abc", "Z", "éa", "a\u{0}"]
        let events = names.enumerated().map { P.ev("v\($0.offset)", .visit, $0.element, t) }
        let p = P.fold(events)
        let asOf = t + 366 * P.day
        let sorted = names.sorted { $0.bytesLess($1) }
        #expect(p.atRisk(asOf: asOf, limit: 100, after: nil).patients.map(\.patient) == sorted)
        for cursor in ["", "a", "aa", "abc", "y", "zz", "é", "éa", "\u{10FFFF}"] {
            let page = p.atRisk(asOf: asOf, limit: 100, after: cursor)
            #expect(page.patients.map(\.patient) == sorted.filter { cursor.bytesLess($0) }, "after \(cursor.debugDescription)")
        }
    }

    @Test func internedBytesOrderAsStringsDo() {
        let words = ["", "a", "ab", "abc", "b", "B", "é", "e\u{301}", "z", "a\u{0}", "\u{10FFFF}", "ab\u{0}"]
        for x in words {
            for y in words {
                let fast = Array(x.utf8).withUnsafeBytes { a in Array(y.utf8).withUnsafeBytes { b in Interner.bytesLess(a, b) } }
                #expect(fast == x.bytesLess(y), "\(x.debugDescription) < \(y.debugDescription)")
            }
        }
    }
}
