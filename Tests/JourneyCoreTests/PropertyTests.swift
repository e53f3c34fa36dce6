import Testing
@testable import JourneyCore

/// Seeded random practices for the property tests.
struct PropertyPractice {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Events in "log order": mostly chronological, some late, identifies sprinkled in.
    /// `dense` packs each journey into a few milliseconds, so most events tie on `at`.
    static func make(seed: UInt64, patients: Int, dense: Bool = false) -> [Event] {
        var rng = RNG(state: seed)
        let day = PJ.day
        let t0 = PJ.t0
        // Ids whose byte order differs from naive expectations: upper case, non-ASCII.
        let prefixes = ["p", "P", "é", "z", "Ω"]
        var known: [String] = []
        var anon: [String] = []
        for i in 0..<patients {
            known.append("\(prefixes[i % prefixes.count])\(i)")
            anon.append("anon-\(i)")
        }
        var events: [Event] = []
        var n = 0
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func maybe<T>(_ x: T, _ p: Double = 0.5) -> T? { Double.random(in: 0..<1, using: &rng) < p ? x : nil }
        // Weighted so that repeat visits, message series and conversions are common.
        let types: [EventType] = [
            .searchHit, .webVisit, .webVisit, .call, .call, .chat, .chat, .form, .messageSent, .messageSent,
            .messageSent, .messageOpened, .messageOpened, .booking, .booking, .cancellation, .noShow,
            .visit, .visit, .visit, .referral, .handoff, .eligibility,
        ]
        for i in 0..<patients {
            let count = Int.random(in: 0...18, using: &rng)
            let start = t0 + Int64.random(in: 0..<400, using: &rng) * day
            for _ in 0..<count {
                n += 1
                let subject = Bool.random(using: &rng) ? known[i] : anon[i]
                // Coarse times so ties on `at` are common (then id bytes decide).
                let at = dense ? start + Int64.random(in: 0..<4, using: &rng)
                    : start + Int64.random(in: 0..<60, using: &rng) * day / 4
                let type = pick(types)
                let eid = pick(["e", "E", "é", "_"]) + String(n, radix: 36)
                events.append(Event(
                    id: eid, type: type, subject: subject, at: at,
                    channel: maybe(pick(Channel.allCases), 0.2),
                    source: maybe(pick(["google", "Bing", "fb"]), 0.4), medium: maybe(pick(["cpc", "organic"]), 0.3),
                    campaign: maybe(pick(["spring", "recall"]), 0.3), term: maybe(pick(["dentist", "braces"]), 0.2),
                    agent: maybe(pick(["bot:intake", "staff:amy", "staff:bo"]), 0.4),
                    conversation: maybe(pick(["c1", "c2", "c3"]), 0.5),
                    concern: maybe(pick(["", "ache", "price", "braces for kid"]), 0.4),
                    resolved: maybe(Bool.random(using: &rng), 0.3),
                    direction: type == .call ? maybe(pick([Direction.inbound, .outbound]), 0.6) : nil,
                    appointment: maybe(pick(["a1", "a2", "a3"]), 0.7),
                    scheduledFor: type == .booking ? maybe(at + Int64.random(in: -2...20, using: &rng) * day, 0.9) : nil,
                    location: maybe(pick(["north", "south"]), 0.3), provider: maybe(pick(["dr-a", "dr-b"]), 0.3),
                    amountCents: type == .visit ? maybe(Int64.random(in: 0...50_000, using: &rng), 0.8) : nil,
                    message: type == .messageSent || type == .messageOpened ? "m\(Int.random(in: 0..<5, using: &rng))" : nil,
                    referrer: type == .referral ? pick(known + anon) : nil,
                    toChannel: type == .handoff ? maybe(pick(Channel.allCases), 0.5) : nil,
                    status: type == .eligibility ? pick(EligibilityStatus.allCases) : nil))
            }
            // Identify the anonymous id later; sometimes chains and cycles across patients.
            if Double.random(in: 0..<1, using: &rng) < 0.7 {
                n += 1
                events.append(PJ.identify("i" + String(n, radix: 36), anon[i], known[i], start + Int64.random(in: 0..<30, using: &rng) * day))
            }
            if Double.random(in: 0..<1, using: &rng) < 0.05 {
                // The reverse declaration too: a two-id cycle.
                n += 1
                events.append(PJ.identify("i" + String(n, radix: 36), known[i], anon[i], start + Int64.random(in: 0..<30, using: &rng) * day))
            }
            if i > 0 && Double.random(in: 0..<1, using: &rng) < 0.08 {
                n += 1
                let j = Int.random(in: 0..<i, using: &rng)
                let (a, b) = Bool.random(using: &rng) ? (known[i], known[j]) : (known[j], anon[i])
                events.append(PJ.identify("i" + String(n, radix: 36), a, b, start + Int64.random(in: -5..<30, using: &rng) * day))
                // A wrong link withdrawn, before or after it in time.
                if Bool.random(using: &rng) {
                    n += 1
                    events.append(PJ.unlink(pick(["u", "U"]) + String(n, radix: 36), a, b, start + Int64.random(in: -5..<30, using: &rng) * day))
                }
            }
            // Unlinks of the patient's own pair (at times equal to an identify's too: ids then
            // decide, "U…" before and "u…" after "i…"), of the reverse pair, sometimes identified again.
            if Double.random(in: 0..<1, using: &rng) < 0.25 {
                n += 1
                let (a, b) = Double.random(in: 0..<1, using: &rng) < 0.8 ? (anon[i], known[i]) : (known[i], anon[i])
                events.append(PJ.unlink(pick(["u", "U"]) + String(n, radix: 36), a, b, start + Int64.random(in: 0..<30, using: &rng) * day))
                if Double.random(in: 0..<1, using: &rng) < 0.4 {
                    n += 1
                    events.append(PJ.identify("i" + String(n, radix: 36), anon[i], known[i], start + Int64.random(in: 0..<40, using: &rng) * day))
                }
            }
        }
        addConsentsAndAttrs(&events, ids: known + anon, rng: &rng)
        // Late arrivals: move 10% of events to a random later log position.
        for _ in 0..<(events.count / 10) {
            let i = Int.random(in: 0..<events.count, using: &rng)
            let e = events.remove(at: i)
            events.insert(e, at: Int.random(in: i...events.count, using: &rng))
        }
        return events
    }

    /// Gives some events attrs (from a few small objects, so equal ones repeat) and adds
    /// consent events, granted or revoked, on a few channels, near each id's other events.
    static func addConsentsAndAttrs(_ events: inout [Event], ids: [String], rng: inout RNG) {
        let objects: [[Event.Attr]] = [
            [.init(key: "language", value: "es")],
            [.init(key: "payer", value: "delta"), .init(key: "language", value: "en")],
            [.init(key: "availability", value: "mornings"), .init(key: "é", value: "")],
        ]
        for i in events.indices where Int.random(in: 0..<5, using: &rng) == 0 {
            events[i].attrs = objects[Int.random(in: 0..<objects.count, using: &rng)].sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        }
        let channels: [Channel] = [.sms, .email, .phone]
        let times = Dictionary(events.map { ($0.subject, $0.at) }, uniquingKeysWith: { a, _ in a })
        var n = 0
        for id in ids where Int.random(in: 0..<3, using: &rng) == 0 {
            let base = times[id] ?? PJ.t0
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                n += 1
                events.append(Event(
                    id: "k" + String(n, radix: 36), type: .consent, subject: id,
                    at: base + Int64.random(in: -4...40, using: &rng) * PJ.day / 4,
                    channel: channels[Int.random(in: 0..<channels.count, using: &rng)],
                    consentStatus: Bool.random(using: &rng) ? .granted : .revoked))
            }
        }
    }
}

@Suite("Projection properties")
struct PropertyTests {
    /// Before every event, in the middle of the journeys (the times are quarter days from
    /// whole days: some events fall exactly on these instants), and after them all.
    static let asOfs: [Int64] = [PJ.t0 - 1, PJ.t0 + 100 * PJ.day, PJ.t0 + 200 * PJ.day, PJ.t0 + 900 * PJ.day]
    static let funnels: [FunnelQuery] = [
        FunnelQuery(),
        try! FunnelQuery(steps: [.touch, .touch, .type(.booking)], windowMs: 3 * PJ.day, by: .source),
        try! FunnelQuery(steps: [.inquiry, .type(.booking), .type(.visit)], windowMs: 10 * PJ.day, by: .none,
                         from: PJ.t0 + 50 * PJ.day, to: PJ.t0 + 300 * PJ.day),
        try! FunnelQuery(steps: [.type(.messageSent), .type(.messageOpened)], windowMs: 0, by: .type),
        try! FunnelQuery(steps: [.touch, .inquiry, .touch, .type(.visit)], windowMs: 2, by: .campaign),
        try! FunnelQuery(steps: [.inquiry, .contact, .touch, .contact], windowMs: 5 * PJ.day, by: .location),
        try! FunnelQuery(steps: [.type(.visit), .type(.visit), .touch], windowMs: 8 * PJ.day, by: .provider),
        try! FunnelQuery(steps: [.type(.booking), .touch, .type(.booking), .type(.visit)], windowMs: 20 * PJ.day, by: .channel),
    ]

    /// Every answer the projector gives, as one string.
    static func dump(_ p: Projector, ids: [String]) -> String {
        var out: [String] = []
        for id in ids {
            for asOf in asOfs {
                out.append(p.patient(id: id, asOf: asOf)?.json ?? "nil")
                out.append(p.handoff(id: id, asOf: asOf)?.json ?? "nil")
            }
        }
        for q in funnels { out.append(p.funnel(q).json) }
        out.append(p.contacts().json)
        for asOf in asOfs {
            var after: String?
            repeat {
                let page = p.atRisk(asOf: asOf, limit: 7, after: after)
                out.append(page.json)
                after = page.next
            } while after != nil
        }
        out.append("\(p.eventCount) \(p.clusterCount)")
        return out.joined(separator: "\n")
    }

    /// The first line where two dumps differ, nil when equal (keeps failure output readable).
    static func firstDifference(_ a: String, _ b: String) -> String? {
        let x = a.split(separator: "\n", omittingEmptySubsequences: false)
        let y = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? String(x[i]) : "<none>"
            let r = i < y.count ? String(y[i]) : "<none>"
            if l != r { return "line \(i):\n\(l)\n\(r)" }
        }
        return nil
    }

    static func ids(_ events: [Event]) -> [String] {
        var s = Set<String>()
        for e in events {
            s.insert(e.subject)
            if let p = e.patient { s.insert(p) }
            if let r = e.referrer { s.insert(r) }
        }
        return s.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } + ["never-seen"]
    }

    @Test(arguments: [1, 2] as [UInt64])
    func orderDoesNotMatter(seed: UInt64) throws {
        let events = PropertyPractice.make(seed: seed, patients: 200)
        let ids = PropertyTests.ids(events)
        let reference = PropertyTests.dump(PJ.fold(events), ids: ids)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(PJ.fold(events.sorted(by: Event.timelineLess)), ids: ids), reference) == nil)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(PJ.fold(events.reversed()), ids: ids), reference) == nil)
        var rng = PropertyPractice.RNG(state: seed &* 31)
        for _ in 0..<2 {
            #expect(PropertyTests.firstDifference(PropertyTests.dump(PJ.fold(events.shuffled(using: &rng)), ids: ids), reference) == nil)
        }
        // Split in two with a snapshot round trip in between.
        let cut = events.count / 2
        let firstHalf = PJ.fold(Array(events[..<cut]))
        var restored = try Projector(deserializing: firstHalf.serialize())
        #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), PropertyTests.dump(firstHalf, ids: ids)) == nil)
        for e in events[cut...] { restored.apply(e) }
        restored.resolveSplits(from: events)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), reference) == nil)
    }

    /// Folding as a store does, one event at a time with the clusters unlinks split rebuilt
    /// after each, answers as a replay and as the reference do, with unlinks in the log.
    @Test(arguments: [(41, false), (42, true)] as [(UInt64, Bool)])
    func incrementalWithUnlinksMatchesReplayAndReference(seed: UInt64, dense: Bool) throws {
        let events = PropertyPractice.make(seed: seed, patients: 120, dense: dense)
        let unlinks = events.filter { $0.type == .unlink }.count
        #expect(unlinks >= 10, "too few unlinks to show anything: \(unlinks)")
        var splits = 0
        var p = Projector()
        for i in events.indices {
            p.apply(events[i])
            if p.hasPendingSplits { splits += 1 }
            p.resolveSplits(from: events[...i])
        }
        #expect(splits >= 3, "too few splits to show anything: \(splits)")
        let ids = PropertyTests.ids(events)
        let replay = PropertyTests.dump(PJ.fold(events), ids: ids)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(p, ids: ids), replay) == nil)
        var rng = PropertyPractice.RNG(state: seed)
        let shuffled = events.shuffled(using: &rng)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(PJ.fold(shuffled), ids: ids), replay) == nil)
        let cut = events.count / 3
        var restored = try Projector(deserializing: PJ.fold(Array(shuffled[..<cut])).serialize())
        for e in shuffled[cut...] { restored.apply(e) }
        restored.resolveSplits(from: shuffled)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), replay) == nil)
        PropertyTests.expectMatchesReference(events)
    }

    @Test(arguments: [(11, false), (12, false), (13, false), (14, false), (21, true), (22, true), (23, true)] as [(UInt64, Bool)])
    func matchesTheNaiveReference(seed: UInt64, dense: Bool) {
        let events = PropertyPractice.make(seed: seed, patients: 40, dense: dense)
        PropertyTests.expectMatchesReference(events)
        // The sample reaches the v2 handoff parts, not only their empty forms.
        let p = PJ.fold(events)
        let late = PropertyTests.ids(events).compactMap { p.handoff(id: $0, asOf: PropertyTests.asOfs.last!) }
        #expect(late.contains { $0.attrs != nil } && late.contains { !$0.consent.isEmpty })
        #expect(late.contains { $0.referredBy != nil } && late.contains { !$0.risk.isEmpty })
    }

    /// Event ids sharing prefixes shorter and longer than the 15 bytes a record takes from its
    /// cluster's base id, with ties on `at` everywhere: timelines still order by whole id
    /// bytes, in any fold order and across a snapshot.
    @Test(arguments: [31, 32] as [UInt64])
    func longSharedIdPrefixes(seed: UInt64) throws {
        let prefixes = ["", "evt-", "evt-2026-11-27-", "evt-2026-11-27-0", "evt-2026-11-27-000000000-", "evt-2026-11-27-000000001-"]
        var rng = PropertyPractice.RNG(state: seed)
        let events = PropertyPractice.make(seed: seed, patients: 40, dense: true).map { e in
            var e = e
            e.id = prefixes[Int.random(in: 0..<prefixes.count, using: &rng)] + e.id
            return e
        }
        #expect(Set(events.map(\.id)).count == events.count)
        PropertyTests.expectMatchesReference(events)
        let ids = PropertyTests.ids(events)
        let reference = PropertyTests.dump(PJ.fold(events), ids: ids)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(PJ.fold(events.shuffled(using: &rng)), ids: ids), reference) == nil)
        let cut = events.count / 2
        var restored = try Projector(deserializing: PJ.fold(Array(events[..<cut])).serialize())
        for e in events[cut...].reversed() { restored.apply(e) }
        restored.resolveSplits(from: events)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), reference) == nil)
        // A copy (as queries and checkpoints take) is not changed by folds into the original.
        let half = PJ.fold(Array(events[..<cut]))
        var grown = half
        for e in events[cut...] { grown.apply(e) }
        grown.resolveSplits(from: events)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(half, ids: ids), PropertyTests.dump(PJ.fold(Array(events[..<cut])), ids: ids)) == nil)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(grown, ids: ids), reference) == nil)
    }

    static func expectMatchesReference(_ events: [Event]) {
        let p = PJ.fold(events)
        let r = PropertyReference(events)
        #expect(p.clusterCount == r.members.count)
        for id in PropertyTests.ids(events) {
            for asOf in PropertyTests.asOfs {
                #expect(p.patient(id: id, asOf: asOf)?.json == r.state(id, asOf: asOf)?.json, "patient \(id)")
                #expect(p.handoff(id: id, asOf: asOf)?.json == r.handoff(id, asOf: asOf)?.json, "handoff \(id)")
            }
        }
        for q in PropertyTests.funnels {
            #expect(p.funnel(q).json == r.funnel(q).json)
        }
        #expect(p.contacts().json == r.contacts().json)
        for asOf in PropertyTests.asOfs {
            #expect(p.atRisk(asOf: asOf, limit: 1000, after: nil).patients == r.atRisk(asOf: asOf))
        }
    }

    @Test func corruptSnapshotsThrowOrLoadSafely() {
        let events = PropertyPractice.make(seed: 5, patients: 8)
        let bytes = PJ.fold(events).serialize()
        var rng = PropertyPractice.RNG(state: 99)
        var rejected = 0
        for _ in 0..<300 {
            var b = bytes
            b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            guard let p = try? Projector(deserializing: b) else { rejected += 1; continue }
            // Whatever loaded must answer every query without trapping.
            for id in PropertyTests.ids(events) { _ = p.patient(id: id, asOf: PJ.t0)?.json; _ = p.handoff(id: id, asOf: PJ.t0)?.json }
            for q in PropertyTests.funnels { _ = p.funnel(q).json }
            _ = p.contacts().json
            _ = p.atRisk(asOf: PJ.t0, limit: 10, after: nil).json
        }
        #expect(rejected > 0)
    }

    @Test func snapshotRejectsGarbage() {
        var p = Projector()
        p.apply(PJ.ev("a", .webVisit, "x", PJ.t0))
        let bytes = p.serialize()
        #expect(throws: SnapshotError.self) { try Projector(deserializing: Array(bytes.dropLast())) }
        #expect(throws: SnapshotError.self) { try Projector(deserializing: [1, 2, 3]) }
        var wrongVersion = bytes
        wrongVersion[4] = 99
        #expect(throws: SnapshotError.self) { try Projector(deserializing: wrongVersion) }
        #expect(throws: SnapshotError.self) { try Projector(deserializing: bytes + [0]) }
        // A snapshot naming the same id twice.
        var twice = Projector()
        twice.apply(PJ.ev("a", .webVisit, "xy", PJ.t0))
        twice.apply(PJ.ev("b", .webVisit, "xz", PJ.t0))
        var dup = twice.serialize()
        // Layout: magic 4, version 4, event count 1, id count 1, then "xy" (len 1 + 2) and "xz".
        #expect(Array(dup[10..<16]) == [2, 120, 121, 2, 120, 122])
        dup[15] = UInt8(ascii: "y")
        #expect(throws: SnapshotError.self) { try Projector(deserializing: dup) }
        let empty = try? Projector(deserializing: Projector().serialize())
        #expect(empty?.eventCount == 0 && empty?.clusterCount == 0)
    }

    /// Found by fuzzing (scripts/fuzz snapshot): an empty snapshot claiming 263882789388280
    /// events used to load, and `serialize()` then asked for a buffer of 32 bytes per event.
    @Test func snapshotEventCountMustMatchItsEvents() {
        // (Re-stamped with the current format version so it reaches the count check.)
        var huge: [UInt8] = [0x4A, 0x50, 0x52, 0x4A, 0x01, 0x00, 0x00, 0x00,
                             0xF8, 0xFF, 0xB1, 0xFF, 0xFF, 0xFF, 0x3B, 0x00, 0x00, 0x00]
        huge[4] = UInt8(Projector.formatVersion)
        #expect(throws: SnapshotError(description: "event count 263882789388280 but 0 events in snapshot")) {
            try Projector(deserializing: huge)
        }
        var p = Projector()
        p.apply(PJ.ev("a", .webVisit, "x", PJ.t0))
        var bytes = p.serialize()
        #expect(bytes[8] == 1)  // magic 4, version 4, then the event count
        bytes[8] = 2
        #expect(throws: SnapshotError(description: "event count 2 but 1 events in snapshot")) {
            try Projector(deserializing: bytes)
        }
    }
}
