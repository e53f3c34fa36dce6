import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization
import Testing
@testable import JourneyStore

// Failures injected at the LMDB boundary: for each, the failed write is neither acknowledged nor
// stored, the store stays consistent (verify clean, positions dense), and the store either takes
// the next write (transient: map or disk full) or refuses every write until reopened (an I/O
// error leaves the disk's content uncertain).

/// Checks the store holds exactly `ids`, in this order, at positions 1…n, and verifies clean.
private func expectStore(_ log: EventLog, holds ids: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let stored = try log.events()
    #expect(stored.map(\.0) == Array(stride(from: UInt64(1), through: UInt64(ids.count), by: 1)), sourceLocation: sourceLocation)
    #expect(stored.map(\.1.id) == ids, sourceLocation: sourceLocation)
    #expect(log.lastPosition == UInt64(ids.count), sourceLocation: sourceLocation)
    let report = try log.verify()
    #expect(report.isClean, "verify: \(report.problems)", sourceLocation: sourceLocation)
    #expect(report.recordsChecked == ids.count, sourceLocation: sourceLocation)
}

private func events(_ prefix: String, _ n: Int, subject: String = "s1") -> [Event] {
    (1...n).map { storeEvent("\(prefix)\($0)", subject) }
}

private func ids(_ prefix: String, _ n: Int) -> [String] { (1...n).map { "\(prefix)\($0)" } }

/// The error `body` throws, failing the test when it throws none or another type.
private func storeFailure(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StoreError? {
    #expect(throws: StoreError.self, sourceLocation: sourceLocation) { try body() }
}

@Suite("Injected LMDB faults")
struct FaultInjectionTests {
    // MARK: map full

    @Test("MAP_FULL in the middle of a batch grows the map and commits the whole batch once")
    func mapFullTransient() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 3))
        // Each new event is 3 puts (log, ids, subjects): fail the 8th, inside the third event.
        log.injectFault(LMDBFault(.put, .mapFull, after: 7))
        #expect(try log.append(events("b", 5)).map(\.position) == [4, 5, 6, 7, 8])
        #expect(log.injectedFailures(.put) == 1)
        #expect(log.mapGrowths.load(ordering: .relaxed) == 1)
        try expectStore(log, holds: ids("a", 3) + ids("b", 5))
    }

    @Test("MAP_FULL from the commit itself (saving the free list) grows the map too")
    func mapFullAtCommit() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        log.injectFault(LMDBFault(.commit, .mapFull))
        #expect(try log.append(events("a", 2)).map(\.position) == [1, 2])
        #expect(log.mapGrowths.load(ordering: .relaxed) == 1)
        try expectStore(log, holds: ids("a", 2))
    }

    @Test("a MAP_FULL that persists fails the batch clearly after a bounded number of growths")
    func mapFullPersistent() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 64 << 10)
        _ = try log.append(events("a", 2))
        log.injectFault(LMDBFault(.put, .mapFull, after: 4, times: nil))
        let failure = storeFailure { _ = try log.append(events("b", 3)) }
        #expect(failure?.code == .mapFull)
        #expect(failure?.message.contains("still full after growing it 12 times") == true)
        #expect(failure?.context.lmdb == .mapFull)
        #expect(log.mapGrowths.load(ordering: .relaxed) == EventLog.maxMapGrowths)
        #expect(log.writeFailure == nil)
        try expectStore(log, holds: ids("a", 2))
        log.clearFaults()
        #expect(try log.append(events("b", 3)).map(\.position) == [3, 4, 5])
        try expectStore(log, holds: ids("a", 2) + ids("b", 3))
    }

    @Test("a map that cannot grow fails the batch clearly and leaves the store usable")
    func mapCannotGrow() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 1))
        log.injectFault(LMDBFault(.put, .mapFull))
        log.injectFault(LMDBFault(.growMap, LMDBError(rawValue: ENOMEM)))
        let failure = storeFailure { _ = try log.append(events("b", 2)) }
        #expect(failure?.code == .mapFull)
        #expect(failure?.message.contains("cannot grow to") == true)
        #expect(failure?.message.contains("ENOMEM") == true)
        try expectStore(log, holds: ids("a", 1))
        // Both faults are spent: the next append goes through.
        #expect(try log.append(events("b", 2)).map(\.position) == [2, 3])
        try expectStore(log, holds: ids("a", 1) + ["b1", "b2"])
    }

    @Test("a map size with no address range for it is refused before LMDB drops its map")
    func mapSizeBeyondAddressSpace() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 2))
        let sizeBefore = log.env.info().mapSize
        // 4 EiB: no 64-bit process has that much address space. LMDB would unmap its map, fail
        // to map the new one, and crash the next transaction.
        #expect(throws: LMDBError(rawValue: ENOMEM)) { try log.env.setMapSize(1 << 62) }
        #expect(log.env.info().mapSize == sizeBefore)
        #expect(try log.append(events("b", 1)) == [.appended(3)])
        try expectStore(log, holds: ids("a", 2) + ["b1"])
    }

    // MARK: disk full

    @Test("ENOSPC at commit fails the batch as disk_full; the next append succeeds", arguments: [
        LMDBFault(.commit, LMDBError(rawValue: ENOSPC)),
        LMDBFault(.put, LMDBError(rawValue: ENOSPC), after: 4),  // a page spill in mid-batch
        LMDBFault(.commit, LMDBError(rawValue: EDQUOT)),
    ])
    func diskFull(fault: LMDBFault) throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 2))
        log.injectFault(fault)
        let failure = storeFailure { _ = try log.append(events("b", 3)) }
        #expect(failure?.code == .diskFull)
        #expect(failure?.context.lmdb == fault.error)
        #expect(failure?.message.contains("is full") == true)
        #expect(failure?.message.contains("nothing of this write was stored") == true)
        #expect(log.writeFailure == nil)
        try expectStore(log, holds: ids("a", 2))
        #expect(try log.positions(subject: "s1") == [1, 2])
        #expect(try log.append(events("b", 3)).map(\.position) == [3, 4, 5])
        try expectStore(log, holds: ids("a", 2) + ids("b", 3))
    }

    // MARK: I/O errors

    @Test("EIO at commit stops writes: nothing of the batch is stored, every later write is refused")
    func commitIOError() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            _ = try log.append(events("a", 2))
            log.injectFault(LMDBFault(.commit, LMDBError(rawValue: EIO)))
            let failure = storeFailure { _ = try log.append(events("b", 3)) }
            #expect(failure?.code == .writesStopped)
            #expect(failure?.context.lmdb == LMDBError(rawValue: EIO))
            #expect(failure?.message.contains("stopped accepting writes") == true)
            #expect(failure?.message.contains("EIO") == true)
            #expect(failure?.message.contains("restart journeyd") == true)
            #expect(log.writeFailure?.code == .writesStopped)
            // The fault is spent, yet the store takes no write: appends, checkpoints, audit.
            #expect(storeFailure { _ = try log.append(events("c", 1)) }?.code == .writesStopped)
            #expect(storeFailure { try log.saveCheckpoint(name: "p", position: 2, data: [1]) }?.code == .writesStopped)
            #expect(storeFailure { try log.appendAudit([[1]]) }?.code == .writesStopped)
            #expect(log.appendGroup([events("d", 1)]).allSatisfy { (try? $0.get()) == nil })
            #expect(log.injectedFailures(.commit) == 1)
            // Reads go on.
            try expectStore(log, holds: ids("a", 2))
        }
        // Reopened, the store takes writes again.
        let log = try EventLog(directory: dir.path)
        try expectStore(log, holds: ids("a", 2))
        #expect(try log.append(events("b", 1)) == [.appended(3)])
    }

    @Test("EIO from a sync stops writes; reopened, the store holds every acknowledged append")
    func syncIOError() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path, durability: .relaxed)
            _ = try log.append(events("a", 3))
            log.injectFault(LMDBFault(.sync, LMDBError(rawValue: EIO)))
            let failure = storeFailure { try log.sync() }
            #expect(failure?.code == .writesStopped)
            #expect(failure?.message.contains("flushing commits to disk failed") == true)
            #expect(failure?.message.contains("relaxed durability") == true)
            #expect(storeFailure { _ = try log.append(events("b", 1)) }?.code == .writesStopped)
            // A retried sync does not pretend the lost flush happened.
            log.clearFaults()
            #expect(storeFailure { try log.sync() }?.code == .writesStopped)
            try expectStore(log, holds: ids("a", 3))
        }
        let log = try EventLog(directory: dir.path)
        try expectStore(log, holds: ids("a", 3))
        #expect(try log.append(events("b", 1)) == [.appended(4)])
    }

    @Test("an environment LMDB gave up on (MDB_PANIC) stops writes")
    func panic() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 1))
        log.injectFault(LMDBFault(.beginWrite, .panic))
        #expect(storeFailure { _ = try log.append(events("b", 1)) }?.code == .writesStopped)
        log.clearFaults()
        #expect(storeFailure { _ = try log.append(events("b", 1)) }?.code == .writesStopped)
        try expectStore(log, holds: ["a1"])
    }

    // MARK: group commit

    @Test("a store failure in one batch of a group fails the whole group, nothing written", arguments: [
        (LMDBFault(.put, LMDBError(rawValue: ENOSPC), after: 3), StoreError.Code.diskFull),
        (LMDBFault(.commit, LMDBError(rawValue: ENOSPC)), StoreError.Code.diskFull),
        (LMDBFault(.commit, LMDBError(rawValue: EIO)), StoreError.Code.writesStopped),
    ])
    func groupFailure(fault: LMDBFault, code: StoreError.Code) throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 1))
        log.injectFault(fault)
        // Batch 1 is 3 puts; the put fault hits the first event of batch 2.
        let results = log.appendGroup([events("b", 1), events("c", 2), events("d", 1)], audit: [[7]])
        #expect(results.count == 3)
        for r in results {
            let failure = #expect(throws: StoreError.self) { try r.get() }
            #expect(failure?.code == code)
        }
        try expectStore(log, holds: ["a1"])
        #expect(try log.auditEntries().isEmpty)
        if code == .diskFull {
            let again = log.appendGroup([events("b", 1), events("c", 2)])
            #expect(try again.map { try $0.get().map(\.position) } == [[2], [3, 4]])
            try expectStore(log, holds: ["a1", "b1", "c1", "c2"])
        }
    }

    @Test("MAP_FULL inside one batch of a group runs the whole group again once, positions dense")
    func groupMapFull() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 1))
        log.injectFault(LMDBFault(.put, .mapFull, after: 4))  // the second event of batch 2
        let results = log.appendGroup([events("b", 1), events("c", 2), events("d", 1)], audit: [[7]])
        #expect(try results.map { try $0.get().map(\.position) } == [[2], [3, 4], [5]])
        #expect(log.mapGrowths.load(ordering: .relaxed) == 1)
        #expect(try log.auditEntries().map(\.1) == [[7]])
        try expectStore(log, holds: ["a1", "b1", "c1", "c2", "d1"])
    }

    // MARK: readers

    @Test("MDB_READERS_FULL fails the read clearly; writes and later reads go on")
    func readersFull() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append(events("a", 2))
        log.injectFault(LMDBFault(.beginRead, .readersFull, times: 3))
        let failure = storeFailure { _ = try log.events() }
        #expect(failure?.code == .io)
        #expect(failure?.context.lmdb == .readersFull)
        #expect(failure?.message.contains("MDB_READERS_FULL") == true)
        // lastPosition falls back to this process's last commit.
        #expect(log.lastPosition == 2)
        // Writes take no reader slot.
        #expect(try log.append(events("b", 1)) == [.appended(3)])
        #expect(storeFailure { _ = try log.positions(subject: "s1") }?.context.lmdb == .readersFull)
        #expect(log.injectedFailures(.beginRead) == 3)
        try expectStore(log, holds: ids("a", 2) + ["b1"])
    }
}

@Suite("Injected LMDB faults: the engine's projections")
struct EngineFaultTests {
    @Test("a failed append is not folded into the projections", arguments: [
        LMDBFault(.commit, LMDBError(rawValue: ENOSPC)),
        LMDBFault(.put, LMDBError(rawValue: ENOSPC), after: 2),
        LMDBFault(.commit, LMDBError(rawValue: EIO)),
    ])
    func failedAppendNotProjected(fault: LMDBFault) throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.path)
        let first = Event(id: "e1", type: .call, subject: "p1", at: 1_750_000_000_000)
        _ = try engine.append([first])
        var persistent = fault
        persistent.times = nil  // the group below fails too
        engine.log.injectFault(persistent)
        let lost = [Event(id: "e2", type: .call, subject: "p2", at: 1_750_000_000_000),
                    Event(id: "e3", type: .booking, subject: "p1", at: 1_750_000_001_000, appointment: "a1")]
        #expect(throws: StoreError.self) { _ = try engine.append(lost) }
        // Two batches through the pipeline, as concurrent clients send them.
        let group = Mutex<[Result<[EventLog.AppendOutcome], StoreError>]>([])
        for batch in [[lost[0]], [lost[1]]] {
            engine.writes.submit(batch) { r in group.withLock { $0.append(r) } }
        }
        engine.writes.drain()
        #expect(group.withLock { $0.count } == 2)
        #expect(group.withLock { $0 }.allSatisfy { (try? $0.get()) == nil })
        #expect(engine.projectionStats.position == 1)
        #expect(engine.projectionStats.events == 1)
        #expect(try engine.patient(id: "p2", asOf: 1_800_000_000_000, as: "test") == nil)
        #expect(try engine.patient(id: "p1", asOf: 1_800_000_000_000, as: "test")?.json.contains("a1") == false)
        try expectStore(engine.log, holds: ["e1"])
    }
}
