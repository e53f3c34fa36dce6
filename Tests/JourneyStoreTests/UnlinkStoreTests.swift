import JourneyCore
import Testing
@testable import JourneyStore

/// What the engine answers for `ids`, as JSON text.
private func answers(_ e: JourneyEngine, ids: [String], asOf: Int64) throws -> [String] {
    var out: [String] = []
    for id in ids {
        out.append(try e.patient(id: id, asOf: asOf, as: "unlink-tests")?.json ?? "nil")
        out.append(try e.handoff(id: id, asOf: asOf, as: "unlink-tests")?.json ?? "nil")
    }
    out.append(try e.funnel(FunnelQuery()).json)
    out.append(try e.contacts().json)
    out.append(try e.atRisk(asOf: asOf, limit: 1000, as: "unlink-tests").json)
    return out
}

/// The same answers from a projector folded from `events` in memory.
private func answers(_ p: Projector, ids: [String], asOf: Int64) -> [String] {
    var out: [String] = []
    for id in ids {
        out.append(p.patient(id: id, asOf: asOf)?.json ?? "nil")
        out.append(p.handoff(id: id, asOf: asOf)?.json ?? "nil")
    }
    out.append(p.funnel(FunnelQuery()).json)
    out.append(p.contacts().json)
    out.append(p.atRisk(asOf: asOf, limit: 1000, after: nil).json)
    return out
}

@Suite("Unlink in the store", .serialized)
struct UnlinkStoreTests {
    static let t0: Int64 = 1_767_225_600_000  // 2026-01-01
    static let hour: Int64 = 3_600_000

    /// A visitor identified as a patient, who books and visits; another pair linked the same way.
    static var linked: [Event] {
        [
            Event(id: "x-w1", type: .webVisit, subject: "anon-u", at: t0, source: "google"),
            Event(id: "x-c1", type: .call, subject: "anon-u", at: t0 + hour, conversation: "cv-u"),
            Event(id: "x-i1", type: .identify, subject: "anon-u", at: t0 + 2 * hour, patient: "p-u"),
            Event(id: "x-b1", type: .booking, subject: "p-u", at: t0 + 3 * hour, appointment: "a-u"),
            Event(id: "x-v1", type: .visit, subject: "p-u", at: t0 + 48 * hour, appointment: "a-u", amountCents: 9_900),
            Event(id: "x-i2", type: .identify, subject: "anon-v", at: t0 + 5 * hour, patient: "p-v"),
            Event(id: "x-v2", type: .visit, subject: "anon-v", at: t0 + 6 * hour),
        ]
    }

    @Test("an unlink appended through the engine splits the cluster; reopening and a rebuild answer the same")
    func engineSplitsAndReopens() throws {
        let dir = StoreTestDirectory()
        // Enough events that a rebuild folds on two threads.
        let practice = Array(PracticeGenerator(.init(events: 20_000, seed: 11, patientsPerDay: 20)))
        let ids = ["anon-u", "p-u", "anon-v", "p-v", "never-seen"]
        let asOf = Self.t0 + 400 * 24 * Self.hour
        var expected: [String] = []
        var all = practice + Self.linked
        do {
            let e = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
            for chunk in stride(from: 0, to: all.count, by: 5000) {
                _ = try e.writes.append(Array(all[chunk..<Swift.min(all.count, chunk + 5000)]))
            }
            #expect(try e.patient(id: "anon-u", asOf: asOf, as: "unlink-tests")?.patient == "p-u")
            try e.checkpoint()
            // The unlink arrives after the checkpoint, dated after the identify it withdraws.
            let unlink = Event(id: "x-u1", type: .unlink, subject: "anon-u", at: Self.t0 + 72 * Self.hour, patient: "p-u")
            _ = try e.writes.append([unlink])
            all.append(unlink)
            let anon = try #require(try e.patient(id: "anon-u", asOf: asOf, as: "unlink-tests"))
            #expect(anon.patient == "anon-u" && anon.aliases == [] && anon.visits == 0 && anon.inquiries == 1)
            let patient = try #require(try e.patient(id: "p-u", asOf: asOf, as: "unlink-tests"))
            #expect(patient.patient == "p-u" && patient.aliases == [] && patient.visits == 1 && patient.lifetimeValueCents == 9_900)
            #expect(try e.handoff(id: "p-u", asOf: asOf, as: "unlink-tests")?.conversation == nil)
            #expect(try e.patient(id: "p-v", asOf: asOf, as: "unlink-tests")?.aliases == ["anon-v"])
            #expect(e.projectionStats.events == all.count)
            // A late identify dated before the unlink does not link; one after it does.
            let late = Event(id: "x-i0", type: .identify, subject: "anon-u", at: Self.t0 + 60 * Self.hour, patient: "p-u")
            _ = try e.writes.append([late])
            all.append(late)
            #expect(try e.patient(id: "anon-u", asOf: asOf, as: "unlink-tests")?.patient == "anon-u")
            // The other pair: unlinked in a batch with later events of both ids.
            let batch = [
                Event(id: "x-v3", type: .visit, subject: "p-v", at: Self.t0 + 100 * Self.hour),
                Event(id: "x-u2", type: .unlink, subject: "anon-v", at: Self.t0 + 90 * Self.hour, patient: "p-v"),
                Event(id: "x-v4", type: .visit, subject: "anon-v", at: Self.t0 + 101 * Self.hour),
            ]
            _ = try e.writes.append(batch)
            all += batch
            #expect(try e.patient(id: "anon-v", asOf: asOf, as: "unlink-tests")?.visits == 2 && e.patient(id: "p-v", asOf: asOf, as: "unlink-tests")?.visits == 1)
            expected = try answers(e, ids: ids, asOf: asOf)
            // The same as a projector folded in memory.
            var memory = Projector()
            for ev in all { memory.apply(ev) }
            memory.resolveSplits(from: all)
            #expect(answers(memory, ids: ids, asOf: asOf) == expected)
            #expect(e.projectionStats.clusters == memory.clusterCount)
        }
        do {
            // Reopened: the checkpoint (before the unlinks) plus the log's tail.
            let reopened = try JourneyEngine(directory: dir.sub("s"))
            #expect(reopened.projectionStats.position == UInt64(all.count))
            #expect(try answers(reopened, ids: ids, asOf: asOf) == expected)
            // A rebuild from position 1 (two threads).
            try reopened.rebuild()
            #expect(try answers(reopened, ids: ids, asOf: asOf) == expected)
            #expect(reopened.projectionStats.events == all.count)
            try reopened.checkpoint()
        }
        // Reopened from a checkpoint with the unlinks in it.
        let again = try JourneyEngine(directory: dir.sub("s"), access: .readOnly)
        #expect(again.projectionStats.position == UInt64(all.count))
        #expect(try answers(again, ids: ids, asOf: asOf) == expected)
    }

    @Test("a fold of the log rebuilds split clusters from the events folded so far only")
    func foldStopsAtItsPosition() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.sub("s"), durability: .relaxed)
        let events = Self.linked + [
            Event(id: "x-u1", type: .unlink, subject: "anon-u", at: Self.t0 + 72 * Self.hour, patient: "p-u"),
            Event(id: "x-v9", type: .visit, subject: "anon-u", at: Self.t0 + 80 * Self.hour),
        ]
        _ = try log.append(events)
        // Folded through the unlink (position 8): the visit after it is not folded yet.
        var p = Projector()
        var folded: UInt64 = 0
        try log.scan { position, view in
            try p.apply(view)
            folded = position
            return position < 8
        }
        #expect(p.hasPendingSplits && folded == 8)
        try log.resolveSplits(in: &p, upTo: folded)
        #expect(!p.hasPendingSplits && p.eventCount == 8 && p.clusterCount == 3)
        #expect(p.patient(id: "anon-u", asOf: Self.t0 + 400 * 24 * Self.hour)?.visits == 0)
        // The rest, and the whole log in one fold, agree.
        _ = try log.fold(after: folded, into: &p)
        var whole = Projector()
        _ = try log.fold(after: 0, into: &whole)
        let ids = ["anon-u", "p-u", "anon-v", "p-v"]
        let asOf = Self.t0 + 400 * 24 * Self.hour
        #expect(answers(p, ids: ids, asOf: asOf) == answers(whole, ids: ids, asOf: asOf))
        #expect(whole.patient(id: "anon-u", asOf: asOf)?.visits == 1 && whole.eventCount == 9)
    }
}
