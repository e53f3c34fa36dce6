import Testing
@testable import JourneyCore

@Suite("Reading SPEC §5 patient and handoff objects back")
struct ProjectionJSONTests {
    typealias P = PJ
    let t = PJ.t0
    let d = PJ.day

    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(text) }

    @Test func everyClusterOfASyntheticPracticeRoundTrips() throws {
        let events = Array(PracticeGenerator(.init(events: 1500, seed: 7, patientsPerDay: 20)))
        let p = P.fold(events)
        var ids = Set<String>()
        for e in events { ids.insert(p.canonicalId(of: e.subject)!) }
        let asOf = events.map(\.at).max()! + 30 * d
        let middle = events.map(\.at).min()! / 2 + events.map(\.at).max()! / 2
        var withVisits = 0, withUpcoming = 0, withConversation = 0
        for id in ids.sorted() {
            let state = p.patient(id: id, asOf: asOf)!
            #expect(try JourneyState(json: parse(state.json)) == state, "\(id)")
            if state.visits > 0 { withVisits += 1 }
            // Late, and in the middle of the practice's history (where bookings are still open).
            for at in [asOf - 60 * d, middle] {
                let context = p.handoff(id: id, asOf: at)!
                #expect(try HandoffContext(json: parse(context.json)) == context, "\(id)")
                if context.upcoming != nil { withUpcoming += 1 }
                if context.conversation != nil { withConversation += 1 }
            }
        }
        // The sample exercises the optional parts, not only their null forms.
        #expect(withVisits > 0 && withUpcoming > 0 && withConversation > 0)
    }

    @Test func handPickedStateReadsBack() throws {
        let events = [
            P.ev("w", .webVisit, "anon", t, source: "google", medium: "cpc"),
            P.identify("i", "anon", "pat", t + 1),
            P.ev("v1", .visit, "pat", t + d, amountCents: 12_050),
            P.ev("v2", .visit, "pat", t + 2 * d, amountCents: 5),
            P.ev("s1", .messageSent, "pat", t + 3 * d, message: "m1"),
            P.ev("o1", .messageOpened, "pat", t + 4 * d, message: "m1"),
        ]
        let state = P.fold(events).patient(id: "anon", asOf: t + 10 * d)!
        let read = try JourneyState(json: parse(state.json))
        #expect(read.patient == "pat")
        #expect(read.aliases == ["anon"])
        #expect(read.lifetimeValueCents == 12_055)  // "120.55", read exactly
        #expect(read.visits == 2)
        #expect(read.openRate == 1)
        #expect(read.firstTouch?.medium == "cpc")
        #expect(read.stage == .active)
        #expect(read == state)
    }

    @Test func answerMembersAroundTheObjectAreIgnored() throws {
        let context = P.fold([P.ev("a", .webVisit, "p", t)]).handoff(id: "p", asOf: t)!
        var text = context.json
        text.removeFirst()
        let answer = try parse(#"{"ok":true,"# + text)
        #expect(try HandoffContext(json: answer) == context)
    }

    @Test func wrongShapesNameTheMember() throws {
        let context = P.fold([P.ev("a", .webVisit, "p", t)]).handoff(id: "p", asOf: t)!
        func failure(_ replace: String, _ with: String) throws -> ProjectionJSONError? {
            let value = try parse(context.json.replacing(replace, with: with))
            do throws(ProjectionJSONError) {
                _ = try HandoffContext(json: value)
                return nil
            } catch {
                return error
            }
        }
        #expect(try failure(#""stage":"prospect""#, #""stage":"dreaming""#)?.description == #"stage: unknown value "dreaming""#)
        #expect(try failure(#""contacts":0"#, #""contacts":-1"#)?.path == "contacts")
        #expect(try failure(#""type":"web_visit""#, #""type":7"#)?.path == "recent[0].type")
        #expect(try failure(#""eligibility":"unknown","#, "")?.description == "eligibility: missing")
        #expect(try failure(#""as_of":"2026-01-01T00:00:00.000Z""#, #""as_of":"soon""#)?.path == "as_of")
        #expect(throws: ProjectionJSONError(path: "", reason: "expected an object")) { try HandoffContext(json: .array([])) }
    }

    @Test func moneyIsReadExactly() {
        #expect(JSONFields.cents("0.00") == 0)
        #expect(JSONFields.cents("120.5") == 12_050)
        #expect(JSONFields.cents("120.50") == 12_050)
        #expect(JSONFields.cents("100000000000.01") == 10_000_000_000_001)
        #expect(JSONFields.cents("1.234") == nil)
        #expect(JSONFields.cents("1.") == nil)
        #expect(JSONFields.cents("99999999999999999999") == nil)
    }
}
