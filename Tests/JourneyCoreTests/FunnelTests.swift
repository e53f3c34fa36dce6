import Testing
@testable import JourneyCore

@Suite("Funnels (SPEC §3.4)")
struct FunnelTests {
    typealias P = PJ
    let t = PJ.t0

    func q(_ steps: [FunnelStep], w: Int64 = 10, by: Breakdown = .none, from: Int64? = nil, to: Int64? = nil) -> FunnelQuery {
        try! FunnelQuery(steps: steps, windowMs: w, by: by, from: from, to: to)
    }
    func counts(_ r: FunnelReport, group: Int = 0) -> [Int] { r.groups[group].steps.map(\.count) }
    func medians(_ r: FunnelReport, group: Int = 0) -> [Int64?] { r.groups[group].steps.map(\.medianMs) }

    @Test func windowIsInclusive() {
        let inWindow = P.fold([P.ev("a", .webVisit, "p", t), P.ev("b", .chat, "p", t + 10)])
        #expect(counts(inWindow.funnel(q([.touch, .inquiry]))) == [1, 1])
        #expect(medians(inWindow.funnel(q([.touch, .inquiry]))) == [nil, 10])
        let outOfWindow = P.fold([P.ev("a", .webVisit, "p", t), P.ev("b", .chat, "p", t + 11)])
        #expect(counts(outOfWindow.funnel(q([.type(.webVisit), .inquiry]))) == [1, 0])
        #expect(medians(outOfWindow.funnel(q([.type(.webVisit), .inquiry]))) == [nil, nil])
        // The chat is itself a touch: it enters an attempt of its own and reaches the inquiry
        // step itself, at once.
        #expect(counts(outOfWindow.funnel(q([.touch, .inquiry]))) == [1, 1])
        #expect(medians(outOfWindow.funnel(q([.touch, .inquiry]))) == [nil, 0])
    }

    @Test func windowCountsFromTheEntryNotThePreviousStep() {
        let p = P.fold([P.ev("a", .webVisit, "p", t), P.ev("b", .chat, "p", t + 6), P.ev("c", .booking, "p", t + 11)])
        #expect(counts(p.funnel(q([.type(.webVisit), .inquiry, .type(.booking)]))) == [1, 1, 0])
        #expect(counts(p.funnel(q([.type(.webVisit), .inquiry, .type(.booking)], w: 11))) == [1, 1, 1])
    }

    @Test func repeatedStepsNeedDistinctEvents() {
        let one = P.fold([P.ev("a", .webVisit, "p", t)])
        #expect(counts(one.funnel(q([.touch, .touch, .touch]))) == [1, 0, 0])
        let three = P.fold([P.ev("a", .webVisit, "p", t), P.ev("b", .webVisit, "p", t + 1), P.ev("c", .webVisit, "p", t + 1)])
        #expect(counts(three.funnel(q([.touch, .touch, .touch]))) == [1, 1, 1])
        #expect(medians(three.funnel(q([.touch, .touch, .touch]))) == [nil, 1, 0])
    }

    @Test func stepsMustBeStrictlyAfterInTimelineOrder() {
        // Same `at`: "b" < "c" as bytes, so the booking (id c) is after the chat (id b) but the
        // chat (id b) is not after a booking with id "a".
        let after = P.fold([P.ev("b", .chat, "p", t), P.ev("c", .booking, "p", t)])
        #expect(counts(after.funnel(q([.inquiry, .type(.booking)]))) == [1, 1])
        let before = P.fold([P.ev("b", .chat, "p", t), P.ev("a", .booking, "p", t)])
        #expect(counts(before.funnel(q([.inquiry, .type(.booking)]))) == [1, 0])
    }

    @Test func chosenAttemptReachesFurthest() {
        // Entry at t (search) cannot reach the chat at t+8 within 5 ms; the web entry at t+5 can.
        let p = P.fold([
            P.ev("a", .searchHit, "p", t), P.ev("b", .webVisit, "p", t + 5),
            P.ev("c", .chat, "p", t + 8), P.ev("d", .webVisit, "p", t + 20),
        ])
        let r = p.funnel(q([.type(.searchHit), .inquiry], w: 5, by: .channel))
        #expect(counts(r) == [1, 0])
        let r2 = p.funnel(q([.touch, .inquiry], w: 5, by: .channel))
        #expect(r2.groups.count == 1)
        #expect(r2.groups[0].value == "web")
        #expect(counts(r2) == [1, 1])
        #expect(medians(r2) == [nil, 3])
    }

    @Test func tiesGoToTheEarliestEntry() {
        // Both touches reach the same chat: credit the first touch (social), median from it.
        let p = P.fold([
            P.ev("a", .webVisit, "p", t, channel: .social), P.ev("b", .webVisit, "p", t + 1),
            P.ev("c", .form, "p", t + 4),
        ])
        let r = p.funnel(q([.touch, .inquiry], by: .channel))
        #expect(r.groups.map(\.value) == ["social"])
        #expect(medians(r) == [nil, 4])
        // When nothing converts, the earliest entry too.
        let none = P.fold([P.ev("a", .webVisit, "p", t, channel: .social), P.ev("b", .webVisit, "p", t + 1)])
        #expect(none.funnel(q([.touch, .inquiry], by: .channel)).groups.map(\.value) == ["social"])
    }

    @Test func entryFilter() {
        let p = P.fold([
            P.ev("a", .webVisit, "p", t, channel: .social), P.ev("b", .webVisit, "p", t + 5),
            P.ev("c", .chat, "p", t + 12),
        ])
        // from excludes the first entry; the second converts with its chat after `to`.
        let r = p.funnel(q([.type(.webVisit), .inquiry], by: .channel, from: t + 1, to: t + 6))
        #expect(r.groups.map(\.value) == ["web"])
        #expect(counts(r) == [1, 1])
        // `to` is exclusive.
        #expect(p.funnel(q([.type(.webVisit), .inquiry], from: t + 1, to: t + 5)).groups[0].steps[0].count == 0)
        // `from` is inclusive.
        #expect(counts(p.funnel(q([.type(.webVisit), .inquiry], by: .channel, from: t, to: t + 1))) == [1, 0])
    }

    @Test func clustersWithoutAnEntryAreNotCounted() {
        let p = P.fold([P.ev("a", .chat, "p", t), P.ev("b", .eligibility, "q", t, status: .verified)])
        let r = p.funnel(q([.type(.searchHit), .inquiry], by: .channel))
        #expect(r.groups.isEmpty)
        // "none" always has its single group.
        let n = p.funnel(q([.type(.searchHit), .inquiry], by: .none))
        #expect(n.groups.count == 1 && n.groups[0].value == nil && counts(n) == [0, 0])
    }

    @Test func mediansAndGroupSorting() {
        var events: [Event] = []
        func journey(_ name: String, source: String?, gap: Int64?) {
            events.append(P.ev("\(name)-1", .webVisit, name, t, source: source))
            if let gap { events.append(P.ev("\(name)-2", .form, name, t + gap)) }
        }
        journey("p1", source: "b", gap: 10)
        journey("p2", source: "b", gap: 15)
        journey("p3", source: nil, gap: 1)
        journey("p4", source: nil, gap: nil)
        journey("p5", source: "a", gap: 2)
        journey("p6", source: "C", gap: 7)
        journey("p7", source: "b", gap: 2)
        journey("p8", source: "a", gap: nil)
        let r = P.fold(events).funnel(q([.touch, .inquiry], w: 100, by: .source))
        // b:3, a:2, null:2, C:1 → by count desc, then bytes ("C" < "a"), null last.
        #expect(r.groups.map(\.value) == ["b", "a", nil, "C"])
        #expect(r.groups.map { $0.steps[0].count } == [3, 2, 2, 1])
        #expect(r.groups[0].steps[1] == .init(step: "inquiry", count: 3, medianMs: 10))
        #expect(r.groups[1].steps[1].medianMs == 2)
        #expect(r.groups[2].steps[1].count == 1)
        let even = P.fold(events.filter { !$0.subject.hasPrefix("p7") }).funnel(q([.touch, .inquiry], w: 100, by: .source))
        // a:2, b:2, null:2, C:1 — equal counts sort by bytes.
        #expect(even.groups.map(\.value) == ["a", "b", nil, "C"])
        #expect(even.groups[1].steps[1].medianMs == 12)  // (10 + 15) / 2 rounded down
        #expect(FunnelReport.median([1, 2, 4, 100]) == 3)
        #expect(FunnelReport.median([5]) == 5)
        #expect(FunnelReport.median([]) == nil)
    }

    @Test func entryWithoutChannelIsTheNullGroup() {
        // identify has no channel: its group is null, sorted after equal-count named groups.
        let p = P.fold([
            P.identify("i", "a", "b", t), P.ev("x", .webVisit, "a", t + 1),
            P.ev("e", .eligibility, "c", t), P.ev("y", .webVisit, "c", t + 1),
            P.ev("z", .chat, "d", t, channel: .portal), P.ev("w", .webVisit, "d", t + 1),
        ])
        let r = p.funnel(q([.touch, .type(.webVisit)], by: .channel))
        // identify/eligibility are not touches: a and c enter on their web visits, which reach
        // the web_visit step themselves.
        #expect(r.groups.map(\.value) == ["web", "portal"])
        #expect(r.groups.map { $0.steps.map(\.count) } == [[2, 2], [1, 1]])
        let any = p.funnel(q([.type(.identify), .type(.webVisit)], by: .channel))
        #expect(any.groups.map(\.value) == [nil])
        #expect(any.json.contains(#""groups":[{"value":null,"steps":[{"step":"identify","count":1,"median_ms":null},{"step":"web_visit","count":1,"median_ms":1}]}]"#))
    }

    @Test func breakdownByType() {
        let p = P.fold([P.ev("a", .chat, "p", t), P.ev("b", .call, "q", t), P.ev("c", .call, "r", t)])
        let r = p.funnel(q([.inquiry, .type(.booking)], by: .type))
        #expect(r.groups.map(\.value) == ["call", "chat"])
    }

    @Test func defaultFunnelJSON() {
        let p = P.fold([
            P.ev("a", .searchHit, "p", t), P.ev("b", .call, "p", t + 1000), P.ev("c", .booking, "p", t + 3000),
            P.ev("d", .visit, "p", t + 30 * P.day),
        ])
        let r = p.funnel(FunnelQuery())
        #expect(r.json == #"{"steps":["touch","inquiry","booking","visit"],"window_s":2592000,"by":"channel","groups":[{"value":"search","steps":[{"step":"touch","count":1,"median_ms":null},{"step":"inquiry","count":1,"median_ms":1000},{"step":"booking","count":1,"median_ms":2000},{"step":"visit","count":1,"median_ms":2591997000}]}]}"#)
    }

    @Test func validation() {
        #expect(throws: FunnelQueryError.self) { try FunnelQuery(steps: [.touch]) }
        #expect(throws: FunnelQueryError.self) { try FunnelQuery(steps: Array(repeating: .touch, count: 11)) }
        #expect(throws: FunnelQueryError.self) { try FunnelQuery(steps: [.touch, .inquiry], windowMs: -1) }
        #expect((try? FunnelQuery(steps: Array(repeating: .touch, count: 10))) != nil)
        #expect(FunnelStep(name: "no_show") == .type(.noShow))
        #expect(FunnelStep(name: "inquiry") == .inquiry)
        #expect(FunnelStep(name: "bogus") == nil)
    }

    // MARK: v2: one event may reach several steps with different definitions

    @Test func aCallIsATouchAndAnInquiryAtOnce() {
        let p = P.fold([P.ev("c", .call, "p", t), P.ev("b", .booking, "p", t + 7)])
        let r = p.funnel(q([.touch, .inquiry, .type(.booking)]))
        #expect(counts(r) == [1, 1, 1])
        #expect(medians(r) == [nil, 0, 7])
        // An outbound call is a touch and a contact, not an inquiry.
        let out = P.fold([P.ev("c", .call, "p", t, direction: .outbound)])
        #expect(counts(out.funnel(q([.touch, .inquiry]))) == [1, 0])
        #expect(counts(out.funnel(q([.touch, .contact]))) == [1, 1])
    }

    @Test func aRepeatedDefinitionNeedsAnotherEvent() {
        let oneVisit = P.fold([P.ev("v1", .visit, "p", t)])
        #expect(counts(oneVisit.funnel(q([.type(.visit), .type(.visit)]))) == [1, 0])
        let twoVisits = P.fold([P.ev("v1", .visit, "p", t), P.ev("v2", .visit, "p", t + 4)])
        #expect(counts(twoVisits.funnel(q([.type(.visit), .type(.visit)]))) == [1, 1])
        #expect(medians(twoVisits.funnel(q([.type(.visit), .type(.visit)]))) == [nil, 4])
        let oneTouch = P.fold([P.ev("w", .webVisit, "p", t)])
        #expect(counts(oneTouch.funnel(q([.touch, .touch]))) == [1, 0])
        // touch → inquiry → touch: the chat reaches the first two steps, but not the third, whose
        // definition it already reached as step 1; the later web visit does.
        let chatThenWeb = P.fold([P.ev("c", .chat, "p", t), P.ev("w", .webVisit, "p", t + 3)])
        let r = chatThenWeb.funnel(q([.touch, .inquiry, .touch]))
        #expect(counts(r) == [1, 1, 1])
        #expect(medians(r) == [nil, 0, 3])
    }

    @Test func inquiryThenContactOnOneChat() {
        let p = P.fold([P.ev("c", .chat, "p", t)])
        #expect(counts(p.funnel(q([.inquiry, .contact]))) == [1, 1])
        #expect(medians(p.funnel(q([.inquiry, .contact]))) == [nil, 0])
        // A form is a contact too; a web visit is not.
        let web = P.fold([P.ev("w", .webVisit, "p", t), P.ev("f", .form, "p", t + 2)])
        #expect(counts(web.funnel(q([.type(.webVisit), .contact]))) == [1, 1])
        #expect(medians(web.funnel(q([.type(.webVisit), .contact]))) == [nil, 2])
        #expect(FunnelStep(name: "contact") == .contact)
        #expect(FunnelStep.contact.name == "contact")
    }

    @Test func selfReachStaysInsideTheWindowAndFilter() {
        // The booking entering at t + 20 reaches the booking step itself even with a zero window.
        let p = P.fold([P.ev("w", .webVisit, "p", t), P.ev("b", .booking, "p", t + 20)])
        #expect(counts(p.funnel(q([.touch, .type(.booking)], w: 0))) == [1, 1])
        // With an entry filter that excludes the booking, the web visit's attempt is out of window.
        #expect(counts(p.funnel(q([.touch, .type(.booking)], w: 19, to: t + 20))) == [1, 0])
        #expect(counts(p.funnel(q([.touch, .type(.booking)], w: 20, to: t + 20))) == [1, 1])
    }

    @Test func breakdownByLocationAndProvider() {
        let p = P.fold([
            P.ev("b1", .booking, "p", t, location: "north", provider: "dr-a"),
            P.ev("v1", .visit, "p", t + 5),
            P.ev("b2", .booking, "q", t, location: "north"),
            P.ev("b3", .booking, "r", t, provider: "dr-a"),  // no location: the null group
            P.ev("b4", .booking, "s", t, location: "south", provider: "dr-b"),
            P.ev("v4", .visit, "s", t + 1, location: "elsewhere"),  // not the entry: does not count
        ])
        let r = p.funnel(q([.type(.booking), .type(.visit)], by: .location))
        #expect(r.by == .location)
        #expect(r.groups.map(\.value) == ["north", "south", nil])
        #expect(r.groups.map { $0.steps.map(\.count) } == [[2, 1], [1, 1], [1, 0]])
        #expect(r.json.contains(#""by":"location""#))
        #expect(r.json.contains(#"{"value":null,"steps":[{"step":"booking","count":1,"median_ms":null},{"step":"visit","count":0,"median_ms":null}]}"#))
        let byProvider = p.funnel(q([.type(.booking), .type(.visit)], by: .provider))
        #expect(byProvider.groups.map(\.value) == ["dr-a", "dr-b", nil])
        #expect(byProvider.groups.map { $0.steps.map(\.count) } == [[2, 1], [1, 1], [1, 0]])
        #expect(Breakdown(name: "location") == .location && Breakdown(name: "provider") == .provider)
    }
}
