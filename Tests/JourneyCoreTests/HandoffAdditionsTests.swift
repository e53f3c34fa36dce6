import Testing
@testable import JourneyCore

@Suite("Warm-handoff additions (SPEC §3.3 v2)")
struct HandoffAdditionsTests {
    typealias P = PJ
    let t = PJ.t0
    let d = PJ.day

    func consent(_ id: String, _ subject: String, _ at: Int64, _ channel: Channel, _ status: ConsentStatus) -> Event {
        Event(id: id, type: .consent, subject: subject, at: at, channel: channel, consentStatus: status)
    }

    func withAttrs(_ e: Event, _ attrs: [(String, String)]) -> Event {
        var e = e
        e.attrs = attrs.map { Event.Attr(key: $0.0, value: $0.1) }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return e
    }

    @Test func consentIsTheLatestStatusPerChannel() {
        let p = P.fold([
            consent("k1", "p", t, .sms, .granted),
            consent("k2", "cookie", t + 2, .email, .granted),
            consent("k3", "p", t + 5, .sms, .revoked),
            P.identify("i", "cookie", "p", t + 6),
            // Same instant: timeline order by id bytes, so "k5" after "k4" decides.
            consent("k4", "p", t + 9, .phone, .granted),
            consent("k5", "p", t + 9, .phone, .revoked),
        ])
        #expect(p.handoff(id: "p", asOf: t - 1)!.consent == [:])
        #expect(p.handoff(id: "p", asOf: t + 4)!.consent == [.sms: "granted", .email: "granted"])
        let h = p.handoff(id: "p", asOf: t + 9)!
        #expect(h.consent == [.sms: "revoked", .email: "granted", .phone: "revoked"])
        // Channels in their list order: phone, sms, email.
        #expect(h.json.contains(#""consent":{"phone":"revoked","sms":"revoked","email":"granted"},"#))
        // A consent is not a touch: nothing recent, no acquisition channel.
        #expect(h.recent.isEmpty && h.acquisitionChannel == nil)
    }

    @Test func attrsOfTheConversationsLatestEventThatHasAny() throws {
        let p = P.fold([
            withAttrs(P.ev("a", .chat, "p", t, conversation: "c1"), [("language", "es")]),
            P.ev("b", .call, "p", t + 1, conversation: "c1"),  // none: skipped
            withAttrs(P.ev("c", .form, "p", t + 2, conversation: "c1"), [("payer", "delta"), ("language", "en")]),
            withAttrs(P.ev("d", .webVisit, "p", t + 3), [("other", "not in the conversation")]),
            withAttrs(P.ev("e", .chat, "p", t + 4, conversation: "c0"), [("x", "y")]),
            P.ev("f", .call, "p", t + 5, conversation: "c1"),
        ])
        #expect(p.handoff(id: "p", asOf: t + 1)!.attrs == [.init(key: "language", value: "es")])
        let h = p.handoff(id: "p", asOf: t + 3)!
        #expect(h.attrs == [.init(key: "language", value: "en"), .init(key: "payer", value: "delta")])
        #expect(h.json.contains(#""handoffs":0,"attrs":{"language":"en","payer":"delta"},"upcoming""#))
        // At t + 4 the latest conversation is c0, with its own attrs; at t + 5 c1 again.
        #expect(p.handoff(id: "p", asOf: t + 4)!.attrs == [.init(key: "x", value: "y")])
        #expect(p.handoff(id: "p", asOf: t + 5)!.attrs == h.attrs)
        #expect(try HandoffContext(json: JSONParser.parse(h.json)) == h)
    }

    @Test func attrsAreNullWithoutAConversationOrWithoutAttrs() {
        let noConversation = P.fold([withAttrs(P.ev("a", .chat, "p", t), [("language", "es")])])
        #expect(noConversation.handoff(id: "p", asOf: t)!.attrs == nil)
        #expect(noConversation.handoff(id: "p", asOf: t)!.json.contains(#""attrs":null"#))
        let none = P.fold([P.ev("a", .chat, "p", t, conversation: "c")])
        #expect(none.handoff(id: "p", asOf: t)!.attrs == nil)
    }

    @Test func attrsKeepAnyCharactersAndEmptyValues() throws {
        let tricky = [("1:2", ""), ("é\"\\", "line\nbreak"), ("", "12:ab"), ("k", String(repeating: "9", count: 300))]
        let p = P.fold([withAttrs(P.ev("a", .chat, "p", t, conversation: "c"), tricky)])
        let h = p.handoff(id: "p", asOf: t)!
        let expected = tricky.map { Event.Attr(key: $0.0, value: $0.1) }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        #expect(h.attrs == expected)
        #expect(try HandoffContext(json: JSONParser.parse(h.json)) == h)
        // Across a snapshot, and from a stored record as from a decoded event.
        let restored = try? Projector(deserializing: p.serialize())
        #expect(restored?.handoff(id: "p", asOf: t)?.attrs == expected)
        var fromRecord = Projector()
        let bytes = try! EventRecord.encode(withAttrs(P.ev("a", .chat, "p", t, conversation: "c"), tricky))
        bytes.withUnsafeBytes { raw in try! fromRecord.apply(EventView(validating: raw)) }
        #expect(fromRecord.handoff(id: "p", asOf: t)?.attrs == expected)
    }

    @Test func equalAttrsShareOneStoredValue() {
        var events: [Event] = []
        for i in 0..<50 {
            events.append(withAttrs(P.ev("a\(i)", .chat, "p\(i)", t, conversation: "c"), [("language", "es"), ("payer", "delta")]))
        }
        let p = P.fold(events)
        #expect(p.values.count == 1)
        #expect(p.handoff(id: "p7", asOf: t)!.attrs?.count == 2)
    }

    @Test func riskCountsAndReferrer() {
        let p = P.fold([
            P.ev("r", .referral, "p", t, referrer: "friend"),
            P.ev("b", .booking, "p", t + 1), P.ev("n", .noShow, "p", t + d),
            P.ev("b2", .booking, "p", t + 2 * d), P.ev("c", .cancellation, "p", t + 3 * d),
        ])
        let h = p.handoff(id: "p", asOf: t + 17 * d)!
        #expect(h.noShows == 1 && h.cancellations == 1)
        #expect(h.referredBy == "friend")
        // The no-show is followed by a booking; the cancellation by nothing, 14 days on.
        #expect(h.risk == [.cancelledNotRebooked])
        #expect(h.json.contains(#""stage":"booked","risk":["cancelled_not_rebooked"],"#))
        #expect(h.json.contains(#""no_shows":1,"cancellations":1,"referred_by":"friend","#))
        #expect(p.handoff(id: "p", asOf: t + 17 * d - 1)!.risk == [])
    }

    @Test func attrsTextRoundTrips() {
        let attrs = [Event.Attr(key: "a", value: "1:x"), Event.Attr(key: "bb", value: "")]
        let text = AttrsText.text(attrs)!
        #expect(String(decoding: text, as: UTF8.self) == "1:a3:1:x2:bb0:")
        #expect(text.withUnsafeBytes { AttrsText.decode($0) } == attrs)
        #expect(AttrsText.text([]) == nil)
        // A cut-short text ends the list instead of reading past it.
        let cut = Array("1:a9:short".utf8)
        #expect(cut.withUnsafeBytes { AttrsText.decode($0) } == [])
    }
}
