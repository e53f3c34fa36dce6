import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// The group commit pipeline: the writer commits a group while the previous one is folded, and
// a batch is answered only once durable and folded.

/// `count` web visits of `subject`, ids `<subject>-v<i>`.
private func visits(_ subject: String, _ count: Int, at: Int64 = 1_767_261_600_000) -> [Event] {
    (0..<count).map { Event(id: "\(subject)-v\($0)", type: .webVisit, subject: subject, at: at + Int64($0)) }
}

/// Everything the engine answers for `ids`, as JSON text, for comparing two states.
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

@Suite("Group commit pipeline", .serialized)
struct GroupFoldTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func aQueryRightAfterEachAnswerSeesTheAcknowledgedBatch() throws {
        let d = try RunningDaemon()
        let socket = d.directory.socketPath
        let clients = 4, requests = 30, perRequest = 50
        let mismatches = Mutex<[String]>([])
        let failures = Mutex<[String]>([])
        onThreads(clients) { t in
            do {
                let appends = try JourneyConnection(socketPath: socket, timeout: .seconds(5))
                let queries = try JourneyConnection(socketPath: socket, timeout: .seconds(5))
                defer { appends.close(); queries.close() }
                // Every request written before any answer is read: they are pipelined.
                for i in 0..<requests {
                    let events = visits("c\(t)-r\(i)", perRequest).map { e in
                        #"{"id":"\#(e.id)","type":"web_visit","subject":"\#(e.subject)","at":\#(e.at)}"#
                    }
                    try appends.send(appendRequest(events))
                }
                for i in 0..<requests {
                    let answer = try parse(try appends.receive())
                    guard answer["ok"]?.boolValue == true else {
                        failures.withLock { $0.append("c\(t) r\(i): \(answer)") }
                        continue
                    }
                    let p = try parse(try queries.request(#"{"op":"patient","id":"c\#(t)-r\#(i)"}"#))
                    let seen = p["counts"]?["web_visit"]?.int64Value
                    if seen != Int64(perRequest) {
                        mismatches.withLock { $0.append("c\(t)-r\(i): \(seen.map(String.init) ?? "\(p)")") }
                    }
                }
            } catch {
                failures.withLock { $0.append("client \(t): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(mismatches.withLock { $0 } == [])
        let stats = try d.ask(#"{"op":"stats"}"#)
        #expect(stats["events"]?.int64Value == Int64(clients * requests * perRequest))
        #expect(stats["projected_position"]?.int64Value == Int64(clients * requests * perRequest))
        try d.stop()
    }

    @Test func everyCompletionRunsAfterItsBatchIsFolded() throws {
        let directory = try TemporaryDirectory()
        let engine = try JourneyEngine(directory: directory.path)
        let threads = 4, batches = 6, perBatch = 400
        let unseen = Mutex<[String]>([])
        onThreads(threads) { t in
            let answered = DispatchGroup()
            for b in 0..<batches {
                let subject = "t\(t)-b\(b)"
                answered.enter()
                engine.writes.submit(visits(subject, perBatch)) { r in
                    // Runs on the answering thread: what a query would see right after the answer.
                    let last = ((try? r.get()) ?? []).map(\.position.rawValue).max() ?? 0
                    let folded = engine.projectionStats.position
                    let count = (try? engine.patient(id: subject, as: "test"))??.counts[Int(EventType.webVisit.rawValue)]
                    if last == 0 || folded < last || count != perBatch {
                        unseen.withLock { $0.append("\(subject): last \(last), folded \(folded), count \(count.map(String.init) ?? "nil")") }
                    }
                    answered.leave()
                }
            }
            answered.wait()
        }
        engine.writes.drain()
        #expect(unseen.withLock { $0 } == [])
        #expect(engine.projectionStats.position == UInt64(threads * batches * perBatch))
    }

    @Test func aConflictingBatchFailsAloneAndTheOthersCommitInOrder() throws {
        let directory = try TemporaryDirectory()
        let e = try JourneyEngine(directory: directory.path)
        var changed = visits("a", 1)[0]
        changed.at += 1
        // Submitted without waiting: the writer may take them in one group or several.
        let results = Mutex<[Int: Result<[EventLog.AppendOutcome], StoreError>]>([:])
        let batches = [visits("a", 3) + visits("b", 2), visits("c", 1) + [changed], visits("d", 2)]
        for (i, b) in batches.enumerated() {
            e.writes.submit(b) { r in results.withLock { $0[i] = r } }
        }
        e.writes.drain()
        let r = results.withLock { $0 }
        #expect((try? r[0]?.get()) == [.appended(1), .appended(2), .appended(3), .appended(4), .appended(5)])
        guard case .failure(let conflict)? = r[1] else {
            Issue.record("a conflicting batch was appended: \(String(describing: r[1]))")
            return
        }
        #expect(conflict.code == .conflict)
        #expect((try? r[2]?.get()) == [.appended(6), .appended(7)])
        #expect(e.log.lastPosition == 7)
        #expect(e.projectionStats.position == 7)
        #expect(try e.patient(id: "a", as: "test")?.counts[Int(EventType.webVisit.rawValue)] == 3)
        #expect(try e.patient(id: "c", as: "test") == nil)
        #expect(try e.patient(id: "d", as: "test")?.counts[Int(EventType.webVisit.rawValue)] == 2)
    }

    @Test func aBatchThatSplitsItsConflictsKeepsTheRestInItsPlace() throws {
        let directory = try TemporaryDirectory()
        let e = try JourneyEngine(directory: directory.path)
        _ = try e.append(visits("a", 2))
        var changed = visits("a", 1)[0]
        changed.at += 1
        let batch = try EventLog.encode(visits("c", 1) + [changed] + visits("d", 1) + visits("a", 2)).get()
        let results = Mutex<[Result<EventLog.EventResults, StoreError>]>([])
        e.writes.submit(EventLog.GroupEntry(batch: .success(batch), splitConflicts: true)) { r in
            results.withLock { $0.append(r) }
        }
        e.writes.drain()
        let r = results.withLock { $0 }
        #expect(r.count == 1)
        guard let events = try? r.first?.get() else {
            Issue.record("the batch failed as a whole: \(r)")
            return
        }
        #expect(events.count == 5)
        #expect((try? events[0].get()) == .appended(3))
        #expect((try? events[1].get()) == nil)
        if case .failure(let f) = events[1] { #expect(f.code == .conflict) }
        #expect((try? events[2].get()) == .appended(4))
        #expect((try? events[3].get()) == .duplicate(1))
        #expect((try? events[4].get()) == .duplicate(2))
        #expect(e.projectionStats.position == 4)
        #expect(try e.patient(id: "d", as: "test")?.counts[Int(EventType.webVisit.rawValue)] == 1)
    }

    @Test func aChainRefusesEverythingAfterItsFirstFailure() throws {
        let directory = try TemporaryDirectory()
        let e = try JourneyEngine(directory: directory.path)
        _ = try e.append(visits("a", 1))
        var changed = visits("a", 1)[0]
        changed.at += 1
        let chain = WriteChain()
        let results = Mutex<[Result<EventLog.EventResults, StoreError>]>([])
        for b in [visits("b", 1), [changed], visits("c", 1)] {
            e.writes.submit(EventLog.GroupEntry(batch: EventLog.encode(b), chain: chain)) { r in
                results.withLock { $0.append(r) }
            }
        }
        e.writes.drain()
        let r = results.withLock { $0 }
        #expect(r.count == 3)
        #expect((try? r[0].get())?.count == 1)
        #expect((try? r[1].get()) == nil)
        #expect((try? r[2].get()) == nil)
        #expect(chain.hasFailed)
        #expect(e.log.lastPosition == 2)
        #expect(try e.patient(id: "c", as: "test") == nil)
    }

    @Test func aRebuildThatSwitchesOverWhileAppendsRunFoldsEachEventOnce() throws {
        let directory = try TemporaryDirectory()
        let e = try JourneyEngine(directory: directory.path)
        _ = try e.append(visits("a", 2))
        let done = Atomic<Bool>(false)
        let appender = DispatchGroup()
        appender.enter()
        DispatchQueue.global().async {
            var i = 0
            while !done.load(ordering: .acquiring) || i < 20 {
                _ = try? e.append(visits("r\(i)", 3))
                i += 1
            }
            appender.leave()
        }
        for _ in 0..<5 { try e.rebuild() }
        done.store(true, ordering: .releasing)
        appender.wait()
        let last = e.log.lastPosition
        #expect(e.projectionStats.position == last)
        #expect(e.projectionStats.events == Int(last))
        var fresh = Projector()
        _ = try e.log.fold(after: 0, into: &fresh)
        #expect(try e.funnel(FunnelQuery()).json == fresh.funnel(FunnelQuery()).json)
        #expect(try e.contacts().json == fresh.contacts().json)
    }

    @Test func aCheckpointTakenUnderConcurrentAppendsRestoresLikeAFreshReplay() throws {
        let directory = try TemporaryDirectory()
        let events = Array(PracticeGenerator(.init(events: 3000, seed: 11, patientsPerDay: 20)))
        let ids = Array(Set(events.map(\.subject))).sorted().prefix(40).map { $0 }
        let perThread = 4, batch = 10
        let checkpoints = Mutex<[UInt64]>([])
        var expected: [String] = []
        do {
            let engine = try JourneyEngine(directory: directory.path)
            let appending = Atomic<Int>(perThread)
            let errors = Mutex<[String]>([])
            // Each thread submits its share (every perThread-th batch) without waiting, then
            // waits for every answer; a checkpoint thread saves checkpoints meanwhile.
            onThreads(perThread + 1) { t in
                if t == perThread {
                    repeat {
                        do {
                            try engine.checkpoint()
                            let saved = try engine.log.loadCheckpoint(name: JourneyEngine.checkpointName)
                            checkpoints.withLock { $0.append(saved?.position ?? 0) }
                        } catch {
                            errors.withLock { $0.append("checkpoint: \(error)") }
                        }
                    } while appending.load(ordering: .acquiring) > 0
                    return
                }
                let answered = DispatchGroup()
                for start in stride(from: t * batch, to: events.count, by: perThread * batch) {
                    answered.enter()
                    engine.writes.submit(Array(events[start..<min(events.count, start + batch)])) { r in
                        if case .failure(let e) = r { errors.withLock { $0.append("append: \(e)") } }
                        answered.leave()
                    }
                }
                answered.wait()
                appending.subtract(1, ordering: .releasing)
            }
            engine.writes.drain()
            #expect(errors.withLock { $0 } == [])
            #expect(engine.log.lastPosition == UInt64(events.count))
            #expect(engine.projectionStats.position == UInt64(events.count))
            expected = try answers(engine, ids: ids)
        }
        let saved = checkpoints.withLock { $0 }
        #expect(!saved.isEmpty)
        #expect(saved == saved.sorted())
        // Reopened: the last checkpoint taken under the appends plus the log after it.
        let reopened = try JourneyEngine(directory: directory.path)
        #expect(reopened.projectionStats.position == UInt64(events.count))
        #expect(reopened.projectionStats.events == events.count)
        #expect(try answers(reopened, ids: ids) == expected)
        // A fresh replay from position 1 answers the same.
        try reopened.rebuild()
        #expect(reopened.projectionStats.events == events.count)
        #expect(try answers(reopened, ids: ids) == expected)
    }
}

/// A rebuild held just before its swap, for tests: `reached` is signalled there and the rebuild
/// waits for `release`.
final class HeldRebuild: Sendable {
    let reached = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)

    func hold(_ engine: JourneyEngine) {
        engine.setBeforeRebuildSwap { [self] in
            reached.signal()
            release.wait()
        }
    }
}

@Suite("Rebuilds keep answering", .serialized)
struct RebuildWhileServingTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func queriesDuringARebuildAnswerMarkedStaleAndEqualAFreshFoldAfterTheSwap() throws {
        let directory = try TemporaryDirectory()
        let engine = try JourneyEngine(directory: directory.path)
        let events = Array(PracticeGenerator(.init(events: 2000, seed: 5, patientsPerDay: 20)))
        _ = try engine.append(Array(events[0..<1500]))
        let ids = Array(Set(events.map(\.subject))).sorted().prefix(20).map { $0 }
        let before = try answers(engine, ids: ids)
        let held = HeldRebuild()
        held.hold(engine)
        let finished = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        DispatchQueue.global().async {
            do { try engine.rebuild() } catch { failure.withLock { $0 = "\(error)" } }
            finished.signal()
        }
        held.reached.wait()
        // Held before the swap: answers come from the previous projections, marked stale.
        let (funnel, stale) = try engine.readCopy { $0.funnel(FunnelQuery()) }
        #expect(stale?.position == 1500)
        #expect(stale?.progress.done == 1500)
        #expect(funnel.json == (try engine.funnel(FunnelQuery()).json))
        #expect(try answers(engine, ids: ids) == before)
        // Appends go on and are answered, and the stale projections keep up with them.
        _ = try engine.append(Array(events[1500...]))
        let (patient, staleAfter) = try engine.read { $0.patient(id: events[1999].subject, asOf: 1_900_000_000_000) }
        #expect(staleAfter?.position == 2000)
        #expect(patient != nil)
        held.release.signal()
        finished.wait()
        #expect(failure.withLock { $0 } == nil)
        let (_, none) = try engine.read { _ in 0 }
        #expect(none == nil)
        #expect(engine.projectionStats.position == 2000)
        var fresh = Projector()
        for e in events { fresh.apply(e) }
        #expect(try engine.funnel(FunnelQuery()).json == fresh.funnel(FunnelQuery()).json)
        #expect(try engine.contacts().json == fresh.contacts().json)
        #expect(try engine.atRisk(asOf: 1_800_000_000_000, limit: 1000, as: "test").json
                == fresh.atRisk(asOf: 1_800_000_000_000, limit: 1000, after: nil).json)
    }

    @Test func aReplaySentToAServingDaemonKeepsQueriesAnsweringWithAStaleMarker() throws {
        let d = try RunningDaemon()
        let events = (0..<40).map { i in
            #"{"id":"e\#(i)","type":"call","subject":"p\#(i % 4)","at":\#(1_767_261_600_000 + Int64(i) * 60_000)}"#
        }
        #expect(try d.ask(appendRequest(Array(events[0..<30])))["ok"]?.boolValue == true)
        let held = HeldRebuild()
        held.hold(d.engine)
        #expect(try d.ask(#"{"op":"replay"}"#)["rebuilding"]?.boolValue == true)
        held.reached.wait()
        let stale = try d.ask(#"{"op":"patient","id":"p1"}"#)
        #expect(stale["ok"]?.boolValue == true)
        #expect(stale["stale"]?["position"]?.int64Value == 30)
        #expect(stale["stale"]?["rebuild_progress"]?["done"]?.int64Value == 30)
        #expect(stale["counts"]?["call"]?.int64Value == 8)
        // An append during the rebuild is acknowledged and seen (still marked stale).
        #expect(try d.ask(appendRequest(Array(events[30...])))["ok"]?.boolValue == true)
        let funnel = try d.ask(#"{"op":"funnel"}"#)
        #expect(funnel["stale"]?["position"]?.int64Value == 40)
        #expect(try d.ask(#"{"op":"stats"}"#)["rebuilding"]?.isNull == false)
        held.release.signal()
        // After the swap: no marker, the same answers as a fresh fold of the log.
        var fresh: JSONValue = .null
        for _ in 0..<500 {
            fresh = try d.ask(#"{"op":"patient","id":"p1"}"#)
            if fresh["stale"] == nil { break }
            usleep(10_000)
        }
        #expect(fresh["stale"] == nil)
        #expect(fresh["counts"]?["call"]?.int64Value == 10)
        var projector = Projector()
        _ = try d.engine.log.fold(after: 0, into: &projector)
        let asOf = try #require(fresh["as_of"]?.stringValue.flatMap { Timestamp.parse($0) })
        let expected = try parse(try #require(projector.patient(id: "p1", asOf: asOf)).json)
        #expect(fresh["counts"] == expected["counts"])
        #expect(fresh["last_touch"] == expected["last_touch"])
        try d.stop()
    }
}
