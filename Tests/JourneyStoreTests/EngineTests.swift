import JourneyCore
import Testing
@testable import JourneyStore

/// A small practice from the generator, as a deterministic event list.
private func practice(_ n: Int, seed: UInt64 = 7) -> [Event] {
    Array(PracticeGenerator(.init(events: n, seed: seed, patientsPerDay: 20)))
}

/// Everything the engine answers, as JSON text, for comparing two engines.
private func answers(_ e: JourneyEngine, ids: [String]) throws -> [String] {
    let asOf: Int64 = 1_800_000_000_000
    var out: [String] = []
    for id in ids {
        out.append(try e.patient(id: id, asOf: asOf, as: "test")?.json ?? "nil")
        out.append(try e.handoff(id: id, asOf: asOf, as: "test")?.json ?? "nil")
    }
    out.append(try e.funnel(FunnelQuery()).json)
    out.append(try e.contacts().json)
    out.append(try e.atRisk(asOf: asOf, limit: 1000, as: "test").json)
    return out
}

@Suite("JourneyEngine", .serialized)
struct EngineTests {
    @Test("restart from a checkpoint plus the log's tail answers like a full replay")
    func checkpointResume() throws {
        let dir = StoreTestDirectory()
        let events = practice(3000)
        let ids = Array(Set(events.map(\.subject))).sorted().prefix(40).map { $0 }
        var expected: [String] = []
        do {
            let e = try JourneyEngine(directory: dir.sub("a"), durability: .relaxed)
            _ = try e.append(Array(events[..<1500]))
            try e.checkpoint()
            _ = try e.append(Array(events[1500...])) // after the checkpoint: folded on reopen
            expected = try answers(e, ids: ids)
        }
        let reopened = try JourneyEngine(directory: dir.sub("a"))
        #expect(reopened.projectionStats.position == UInt64(events.count))
        #expect(try answers(reopened, ids: ids) == expected)
        try reopened.rebuild()
        #expect(try answers(reopened, ids: ids) == expected)
        #expect(reopened.projectionStats.events == events.count)
    }

    @Test("a checkpoint ahead of the log is refused with a clear error")
    func checkpointAheadRefused() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.sub("s"))
            _ = try log.append([storeEvent("a")])
            try log.saveCheckpoint(name: JourneyEngine.checkpointName, position: 5, data: Projector().serialize())
        }
        do {
            _ = try JourneyEngine(directory: dir.sub("s"))
            Issue.record("opened a store whose checkpoint is ahead of its log")
        } catch let e as StoreError {
            #expect(e.code == .corrupt)
            #expect(e.description.contains("position 5"))
        }
    }

    @Test("a checkpoint of another projector version is ignored and the projections rebuilt")
    func staleCheckpointRebuilds() throws {
        let dir = StoreTestDirectory()
        let events = practice(500)
        do {
            let log = try EventLog(directory: dir.sub("s"))
            _ = try log.append(events)
            try log.saveCheckpoint(name: JourneyEngine.checkpointName, position: UInt64(events.count), data: [0xFF, 0, 1, 2])
        }
        let e = try JourneyEngine(directory: dir.sub("s"))
        #expect(!e.needsRebuild)
        #expect(e.projectionStats.events == events.count)
        var fresh = Projector()
        for ev in events { fresh.apply(ev) }
        #expect(try e.funnel(FunnelQuery()).json == fresh.funnel(FunnelQuery()).json)
    }

    @Test("deferred rebuild: queries answer rebuilding until the rebuild completes, appends go on")
    func deferredRebuild() throws {
        let dir = StoreTestDirectory()
        let events = practice(800)
        do {
            let log = try EventLog(directory: dir.sub("s"))
            _ = try log.append(events)
        }
        let e = try JourneyEngine(directory: dir.sub("s"), deferRebuild: true)
        #expect(e.needsRebuild)
        #expect(throws: Rebuilding.self) { try e.contacts() }
        let extra = Event(id: "late-1", type: .call, subject: "p-late", at: 1_750_000_000_000)
        #expect(try e.append([extra]) == [.appended(Position(UInt64(events.count + 1)))])
        try e.rebuild()
        #expect(e.projectionStats.events == events.count + 1)
        #expect(try e.patient(id: "p-late", asOf: 1_750_000_000_000, as: "test")?.json.contains("\"inquiries\":1") == true)
    }
}
