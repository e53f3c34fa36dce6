import Testing
@testable import JourneyCore

// A risk snapshot reads a cluster's records in one pass, decoding only consents (and messages
// when 4 or more were sent): it must be what the rules of SPEC §3.2 give on the cluster's
// decoded facts, for every cluster, at every instant.

extension Projector {
    /// The snapshot as the rules read the cluster's decoded facts (`LifecycleFacts`): the
    /// reference the one-pass reading is held to.
    func referenceRiskSnapshot(root: UInt32, asOf: Int64) -> RiskSnapshot {
        var facts = clusters[Int(root)].facts
        let counted = facts.firstIndex { $0.at > asOf } ?? facts.count
        let future = counted < facts.count ? facts[counted].at : nil
        if counted < facts.count { facts.removeSubrange(counted...) }
        let canonical = canonicalName(root)
        let aliases = members(root).filter { $0 != clusters[Int(root)].canonical }.map { ids[$0] }
        guard !facts.isEmpty else {
            return RiskSnapshot(canonical: canonical, aliases: aliases, stage: .prospect, risk: [], contactable: [],
                                nextChange: future, latestAt: nil, thresholds: RiskThresholds())
        }
        let life = LifecycleFacts(facts)
        let risk = RiskSet(life.risk(facts, asOf: asOf))
        var next = future
        var thresholds = RiskThresholds()
        func start(_ r: Risk, _ t: Int128) {
            let t = t > Int128(Int64.max) ? .max : t < Int128(Int64.min) ? .min : Int64(t)
            if t > asOf {
                next = min(next ?? t, t)
            } else if risk.contains(r) {
                thresholds[r] = t
            }
        }
        if life.visits >= 1 { start(.lapsed, Int128(facts[life.lastVisit].at) + Int128(Durations.lapse) + 1) }
        if life.visits >= 3 {
            let first = Int128(facts[life.firstVisit].at), last = Int128(facts[life.lastVisit].at)
            start(.overdue, last + (2 * (last - first)) / Int128(life.visits - 1) + 1)
        }
        let lastCare = max(life.lastBooking, life.lastVisit)
        if life.lastCancellation >= 0, life.lastCancellation > lastCare {
            start(.cancelledNotRebooked, Int128(facts[life.lastCancellation].at) + Int128(Durations.cancelGrace))
        }
        if life.lastNoShow >= 0, life.lastNoShow > lastCare {
            start(.noShowNotRebooked, Int128(facts[life.lastNoShow].at) + Int128(Durations.noShowGrace))
        }
        var granted: [Channel: Bool] = [:]
        for f in facts where f.type == .consent {
            guard let channel = f.effectiveChannel else { continue }
            granted[channel] = f.status == ConsentStatus.granted.rawValue
        }
        return RiskSnapshot(canonical: canonical, aliases: aliases, stage: life.stage(facts, asOf: asOf), risk: risk,
                            contactable: Channel.allCases.filter { granted[$0] == true }, nextChange: next,
                            latestAt: facts.last?.at, thresholds: thresholds)
    }
}

@Suite struct RiskScanTests {
    private let day = PJ.day
    private let t0 = PJ.t0

    @Test func aClusterOfEveryRuleIsReadAsItsFactsSay() {
        let d = day, t0 = t0
        let events = [
            PJ.ev("v1", .visit, "p1", t0),
            PJ.ev("v2", .visit, "p1", t0 + 10 * d),
            PJ.ev("v3", .visit, "p1", t0 + 20 * d),
            PJ.ev("b1", .booking, "p1", t0 + 21 * d, appointment: "a1"),
            PJ.ev("c1", .cancellation, "p1", t0 + 22 * d, appointment: "a1"),
            PJ.ev("n1", .noShow, "p1", t0 + 23 * d),
            PJ.ev("k1", .consent, "p1", t0 + 1 * d, channel: .sms, status: nil),
            PJ.ev("m1", .messageSent, "p1", t0 + 2 * d, message: "x1"),
            PJ.ev("o1", .messageOpened, "p1", t0 + 3 * d, message: "x1"),
            PJ.ev("m2", .messageSent, "p1", t0 + 4 * d, message: "x2"),
            PJ.ev("m3", .messageSent, "p1", t0 + 5 * d, message: "x3"),
            PJ.ev("m4", .messageSent, "p1", t0 + 6 * d, message: "x4"),
            PJ.identify("i1", "w1", "p1", t0 + 7 * d),
            // Counts from t0 + 400 d on.
            PJ.ev("v4", .visit, "p1", t0 + 400 * d),
        ]
        var withConsent = events
        withConsent[6].consentStatus = .granted
        withConsent.append(PJ.ev("k2", .consent, "p1", t0 + 8 * d, channel: .email))
        withConsent[withConsent.count - 1].consentStatus = .granted
        withConsent.append(PJ.ev("k3", .consent, "p1", t0 + 9 * d, channel: .email))
        withConsent[withConsent.count - 1].consentStatus = .revoked
        let p = PJ.fold(withConsent)
        let root = p.root(of: "p1")!
        let asOf = t0 + 100 * d
        let s = p.riskSnapshot(slot: root, asOf: asOf)!
        // Visits at 0, 10, 20 d: lapsed no, overdue since 20 + 2·20/2 = 40 d (+1 ms); the
        // cancellation (22 d) and no-show (23 d) follow the last booking (21 d) and visit;
        // sends x1..x4 with only x1 opened: declining.
        #expect(s.risk == [.overdue, .cancelledNotRebooked, .noShowNotRebooked, .decliningEngagement])
        #expect(s.stage == .active)
        #expect(s.contactable == [.sms])
        #expect(s.latestAt == t0 + 23 * d)
        #expect(s.nextChange == t0 + 20 * d + 365 * d + 1)
        #expect(s.thresholds[.overdue] == t0 + 40 * d + 1)
        #expect(s.thresholds[.cancelledNotRebooked] == t0 + 36 * d)
        #expect(s.thresholds[.noShowNotRebooked] == t0 + 30 * d)
        #expect(s.thresholds[.lapsed] == nil && s.thresholds[.decliningEngagement] == nil)
        #expect(s.aliases == ["w1"] && s.canonical == "p1")
        #expect(s == p.referenceRiskSnapshot(root: root, asOf: asOf))
        // Before any event: nothing counts, the first event is the next change.
        let before = p.riskSnapshot(slot: root, asOf: t0 - 1)!
        #expect(before.stage == .prospect && before.risk.isEmpty && before.latestAt == nil && before.nextChange == t0)
        #expect(before == p.referenceRiskSnapshot(root: root, asOf: t0 - 1))
        // An event at the instant counts; one a millisecond later does not.
        for at in [t0 + 400 * d - 1, t0 + 400 * d] {
            #expect(p.riskSnapshot(slot: root, asOf: at)! == p.referenceRiskSnapshot(root: root, asOf: at))
        }
        #expect(p.riskSnapshot(slot: root, asOf: t0 + 400 * d - 1)!.nextChange == t0 + 400 * d)
        #expect(p.riskSnapshot(slot: root, asOf: t0 + 400 * d)!.risk == [.decliningEngagement])
    }

    @Test func everyClusterOfGeneratedPracticesIsReadAsItsFactsSay() {
        var compared = 0
        var held = [Risk: Int]()
        var contactable = 0
        var thresholds = 0
        var declining = 0
        // A short busy practice, and a slow one whose patients come back for years.
        for (count, perDay, seed) in [(8000, 12, UInt64(3)), (20000, 3, 11)] {
            let events = Array(PracticeGenerator(.init(events: count, seed: seed, patientsPerDay: perDay, practiceRules: true)))
            let p = PJ.fold(events)
            let times = events.map(\.at).sorted()
            var instants = [times[0] - 1, times.last!, times.last! + 30 * day, times.last! + 400 * day, Int64.max, Int64.min]
            for k in 1..<8 { instants.append(times[times.count * k / 8]) }
            for asOf in instants {
                for root in p.roots {
                    let s = p.riskSnapshot(slot: root, asOf: asOf)!
                    #expect(s == p.referenceRiskSnapshot(root: root, asOf: asOf), "cluster \(p.canonicalName(root)) at \(asOf)")
                    compared += 1
                    for r in s.risk { held[r, default: 0] += 1 }
                    if !s.contactable.isEmpty { contactable += 1 }
                    if Risk.allCases.contains(where: { s.thresholds[$0] != nil }) { thresholds += 1 }
                }
            }
            declining += p.roots.count { p.clusters[Int($0)].facts.count { $0.type == .messageSent } >= 4 }
        }
        #expect(compared > 10_000)
        // The comparison covers every rule, consents and thresholds.
        #expect(Risk.allCases.allSatisfy { held[$0, default: 0] > 0 }, "\(held)")
        #expect(contactable > 0 && thresholds > 0 && declining > 0)
    }
}
