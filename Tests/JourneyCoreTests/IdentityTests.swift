import Testing
@testable import JourneyCore

@Suite("Identity (SPEC §3.1)")
struct IdentityTests {
    typealias P = PJ

    func canonical(_ p: Projector, _ id: String) -> String? { p.patient(id: id, asOf: P.t0)?.patient }
    func aliases(_ p: Projector, _ id: String) -> [String]? { p.patient(id: id, asOf: P.t0)?.aliases }

    @Test func singleIdIsItsOwnCluster() {
        let p = P.fold([P.ev("e1", .webVisit, "anon-1", P.t0)])
        #expect(canonical(p, "anon-1") == "anon-1")
        #expect(aliases(p, "anon-1") == [])
        #expect(p.patient(id: "nobody", asOf: P.t0) == nil)
        #expect(p.handoff(id: "nobody", asOf: P.t0) == nil)
        #expect(p.clusterCount == 1)
        #expect(p.eventCount == 1)
    }

    @Test func chainResolvesToTheSink() {
        // A → B → C: C is never a subject.
        let events = [
            P.identify("i1", "A", "B", P.t0 + 10),
            P.identify("i2", "B", "C", P.t0 + 5),
            P.ev("w", .webVisit, "A", P.t0),
        ]
        let p = P.fold(events)
        for id in ["A", "B", "C"] {
            #expect(canonical(p, id) == "C")
            #expect(aliases(p, id) == ["A", "B"])
        }
        #expect(p.clusterCount == 1)
        #expect(p.patient(id: "C", asOf: P.t0)?.counts[Int(EventType.webVisit.rawValue)] == 1)
        #expect(p.canonicalId(of: "A") == "C")
        #expect(p.clusterIds(of: "B") == ["C", "A", "B"])
        #expect(p.clusterIds(of: "D") == nil && p.canonicalId(of: "D") == nil)
    }

    @Test func twoSinksPickThePatientOfTheEarliestIdentifyNamingOne() {
        // A → X (at 20), A → Y (at 10): both X and Y are sinks; the earliest identify names Y.
        let p = P.fold([P.identify("i1", "A", "X", P.t0 + 20), P.identify("i2", "A", "Y", P.t0 + 10)])
        #expect(canonical(p, "X") == "Y")
        #expect(aliases(p, "A") == ["A", "X"])
    }

    @Test func twoSinksTieOnTimeBreaksByIdBytes() {
        // Same `at`: id "a2" < "b1" as bytes, so the identify naming Y (id a2) is earliest.
        let p = P.fold([P.identify("b1", "A", "X", P.t0), P.identify("a2", "A", "Y", P.t0)])
        #expect(canonical(p, "A") == "Y")
    }

    @Test func earliestIdentifyAmongSinksSkipsIdentifiesNamingNonSinks() {
        // i0 (earliest) names B, which is itself a subject (B → Z); sinks are Z and X.
        // Among identifies naming a sink, the earliest is i1 (→ X at 5) vs i2 (B → Z at 8).
        let p = P.fold([
            P.identify("i0", "A", "B", P.t0 + 1),
            P.identify("i1", "C", "X", P.t0 + 5),
            P.identify("i2", "B", "Z", P.t0 + 8),
            P.identify("i3", "C", "A", P.t0 + 9),
        ])
        #expect(canonical(p, "Z") == "X")
        #expect(aliases(p, "Z") == ["A", "B", "C", "Z"])
    }

    @Test func cycleUsesThePatientOfTheEarliestIdentify() {
        let events = [
            P.identify("i1", "A", "B", P.t0 + 30),
            P.identify("i2", "B", "C", P.t0 + 10),
            P.identify("i3", "C", "A", P.t0 + 20),
        ]
        let p = P.fold(events)
        #expect(canonical(p, "A") == "C")  // earliest identify i2 names C
        #expect(aliases(p, "B") == ["A", "B"])
    }

    @Test func selfIdentifyKeepsTheId() {
        let p = P.fold([P.identify("i1", "A", "A", P.t0)])
        #expect(canonical(p, "A") == "A")
        #expect(aliases(p, "A") == [])
    }

    @Test func lateIdentifyJoinsHistoriesRetroactively() {
        var p = Projector()
        p.apply(P.ev("w1", .webVisit, "cookie", P.t0, source: "google"))
        p.apply(P.ev("c1", .call, "pat-1", P.t0 + P.day))
        #expect(p.clusterCount == 2)
        #expect(p.patient(id: "pat-1", asOf: P.t0 + P.day)?.firstTouch?.type == .call)
        p.apply(P.identify("i1", "cookie", "pat-1", P.t0 + 2 * P.day))
        #expect(p.clusterCount == 1)
        let s = p.patient(id: "cookie", asOf: P.t0 + 2 * P.day)
        #expect(s?.patient == "pat-1")
        #expect(s?.aliases == ["cookie"])
        #expect(s?.firstTouch?.type == .webVisit)
        #expect(s?.firstTouch?.source == "google")
        #expect(s?.lastTouch?.type == .call)
        #expect(s?.counts[Int(EventType.identify.rawValue)] == 1)
    }

    @Test func eventsAfterTheIdentifyStillJoin() {
        var p = Projector()
        p.apply(P.identify("i1", "cookie", "pat-1", P.t0))
        p.apply(P.ev("w2", .webVisit, "cookie", P.t0 + 100))
        #expect(p.patient(id: "pat-1", asOf: P.t0 + 100)?.lastTouch?.at == P.t0 + 100)
    }

    @Test func anyMergeOrderGivesTheSameCanonicalId() {
        let events = [
            P.identify("i1", "a", "b", P.t0 + 3),
            P.identify("i2", "c", "d", P.t0 + 1),
            P.identify("i3", "b", "d", P.t0 + 2),
            P.identify("i4", "e", "c", P.t0 + 4),
            P.ev("x", .chat, "e", P.t0),
        ]
        var reference: String?
        // All 120 permutations.
        func permutations(_ xs: [Event]) -> [[Event]] {
            if xs.count <= 1 { return [xs] }
            var out: [[Event]] = []
            for i in xs.indices {
                var rest = xs
                let x = rest.remove(at: i)
                for p in permutations(rest) { out.append([x] + p) }
            }
            return out
        }
        for order in permutations(events) {
            let s = P.fold(order).patient(id: "a", asOf: P.t0)!.json
            if reference == nil { reference = s }
            #expect(s == reference)
        }
        #expect(P.fold(events).patient(id: "e", asOf: P.t0)?.patient == "d")
    }

    @Test func referrerAndPatientOnlyIdsAreClusters() {
        let p = P.fold([P.ev("r1", .referral, "new", P.t0, referrer: "old")])
        let old = p.patient(id: "old", asOf: P.t0)
        #expect(old?.patient == "old")
        #expect(old?.referralsMade == 1)
        #expect(p.clusterCount == 2)
    }
}
