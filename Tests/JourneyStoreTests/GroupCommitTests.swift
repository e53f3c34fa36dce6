import JourneyCore
import Testing
@testable import JourneyStore

@Suite("EventLog group commit")
struct GroupCommitTests {
    @Test("batches of a group commit together, each atomic on its own")
    func groupIsolation() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append([storeEvent("old")])
        let results = log.appendGroup([
            [storeEvent("a"), storeEvent("b")],
            [storeEvent("c"), storeEvent("old", at: 1)],  // conflict: this batch only
            [storeEvent("d"), storeEvent("a"), storeEvent("old")],  // duplicates of the earlier batch and of the store
        ])
        #expect(try results[0].get() == [.appended(2), .appended(3)])
        let failure = #expect(throws: StoreError.self) { try results[1].get() }
        #expect(failure?.code == .conflict)
        #expect(failure?.context.batchIndex == 1)
        #expect(try results[2].get() == [.appended(4), .duplicate(2), .duplicate(1)])
        // The failed batch left no trace: "c" is unknown and positions stay dense.
        #expect(log.lastPosition == 4)
        #expect(try log.positions(subject: "s1") == [1, 2, 3, 4])
        #expect(try log.append([storeEvent("c")]) == [.appended(5)])
        #expect(try log.verify().isClean)
    }

    @Test("a group without a failing batch: duplicates across batches and of the store, indexes in order")
    func groupWithoutFailures() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append([storeEvent("old", "s2")])
        let refused = StoreError(.invalidArgument, "refused before the write")
        let results = log.appendGroup(encoded: [
            EventLog.encode([storeEvent("b", "s3"), storeEvent("a", "s1")]),
            .failure(refused),  // fails alone, with its own error
            EventLog.encode([]),
            EventLog.encode([storeEvent("c", "s2"), storeEvent("b", "s3"), storeEvent("old", "s2"), storeEvent("c", "s2")]),
        ], audit: [[9]])
        #expect(try results[0].get() == [.appended(2), .appended(3)])
        #expect(throws: StoreError.self) { try results[1].get() }
        #expect(try results[2].get() == [])
        #expect(try results[3].get() == [.appended(4), .duplicate(2), .duplicate(1), .duplicate(4)])
        #expect(log.lastPosition == 4)
        #expect(try log.positions(subject: "s1") == [3])
        #expect(try log.positions(subject: "s2") == [1, 4])
        #expect(try log.positions(subject: "s3") == [2])
        #expect(try log.auditEntries().map(\.1) == [[9]])
        #expect(try log.verify().isClean)
        // The ids are indexed: the same ids again are duplicates, another content a conflict.
        #expect(try log.append([storeEvent("a", "s1"), storeEvent("c", "s2")]) == [.duplicate(3), .duplicate(4)])
        #expect(throws: StoreError.self) { try log.append([storeEvent("b", "s1")]) }
    }

    @Test("ids the store holds ahead of new ones in a group: the new ids are indexed at the positions they get")
    func storedIdsAheadOfNewOnes() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        #expect(try log.append([storeEvent("x1"), storeEvent("x2", "s2")]) == [.appended(1), .appended(2)])
        // Claimed as if every id were new, n1…n4 would be put at 4, 5, 6 and 8; the stored x1
        // and x2 move them to 3, 4, 5 and 6.
        let results = log.appendGroup([
            [storeEvent("x1"), storeEvent("n1"), storeEvent("n2", "s2")],
            [storeEvent("n3"), storeEvent("x2", "s2"), storeEvent("n4", "s2"), storeEvent("n1")],
        ])
        #expect(try results[0].get() == [.duplicate(1), .appended(3), .appended(4)])
        #expect(try results[1].get() == [.appended(5), .duplicate(2), .appended(6), .duplicate(3)])
        #expect(log.lastPosition == 6)
        #expect(try log.positions(subject: "s1") == [1, 3, 5])
        #expect(try log.positions(subject: "s2") == [2, 4, 6])
        #expect(try log.verify().isClean)
        // The ids index answers the moved positions.
        #expect(try log.append([storeEvent("n4", "s2"), storeEvent("n3"), storeEvent("n2", "s2"), storeEvent("n1")])
                == [.duplicate(6), .duplicate(5), .duplicate(4), .duplicate(3)])
        let conflict = #expect(throws: StoreError.self) { try log.append([storeEvent("n4", "s1")]) }
        #expect(conflict?.code == .conflict)
        #expect(conflict?.context.position == 6)
    }

    @Test("a run of batches whose first id is stored: every later id moves down one position")
    func runWithStoredFirstId() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append([storeEvent("k0")])
        var batches = [EventLog.EncodedBatch]()
        for b in 0..<3 {
            var batch = EventLog.EncodedBatch()
            if b == 0 { try batch.append(storeEvent("k0")) }
            for i in 0..<100 { try batch.append(storeEvent("k\(b)-\(i)", "p\(i % 7)")) }
            batch.sortKeys()
            batches.append(batch)
        }
        let (outcomes, failure) = try log.appendEncoded(batches)
        #expect(failure == nil)
        #expect(outcomes[0][0] == .duplicate(1))
        #expect(outcomes[0][1] == .appended(2))
        #expect(outcomes[2][99] == .appended(301))
        #expect(log.lastPosition == 301)
        #expect(try log.verify().isClean)
        #expect(try log.append([storeEvent("k1-0", "p0"), storeEvent("k2-99", "p1")]) == [.duplicate(102), .duplicate(301)])
        // Each batch's subjects, in the order `sortKeys` gave them, at the positions appended:
        // p0 holds records 0, 7, …, 98 of each batch, p6 records 6, 13, …, 97.
        let p0 = try log.positions(subject: "p0"), p6 = try log.positions(subject: "p6")
        #expect(p0.count == 45 && p0.prefix(3) == [2, 9, 16] && p0.suffix(2) == [293, 300])
        #expect(p6.count == 42 && p6.prefix(2) == [8, 15] && p6.suffix(2) == [292, 299])
        #expect(try log.positions(subject: "s1") == [1])
    }

    @Test("sorted batches of ids sharing their first 16 bytes: duplicates across batches and of the store are found")
    func sortedBatchesOfLongIds() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        let stem = "clinic-north-events-"  // 20 bytes: ids differ only past their first 16
        _ = try log.append([storeEvent(stem + "b")])
        func sorted(_ ids: [String]) throws -> EventLog.EncodedBatch {
            var batch = EventLog.EncodedBatch()
            for id in ids { try batch.append(storeEvent(stem + id)) }
            batch.sortKeys()
            return batch
        }
        let (outcomes, failure) = try log.appendEncoded([
            try sorted(["d", "a", "c"]),
            try sorted(["c", "b", "e", "a"]),
        ])
        #expect(failure == nil)
        #expect(outcomes == [[.appended(2), .appended(3), .appended(4)],
                             [.duplicate(4), .duplicate(1), .appended(5), .duplicate(3)]])
        #expect(try log.verify().isClean)
        #expect(try log.append([storeEvent(stem + "e"), storeEvent(stem + "d")]) == [.duplicate(5), .duplicate(2)])
    }

    @Test("a group larger than the map grows it and commits whole, with its audit entries")
    func groupMapGrowth() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 64 << 10)
        let batches = (0..<20).map { b in (0..<300).map { storeEvent("g\(b)-\($0)", "p\($0 % 40)") } }
        let results = log.appendGroup(batches, audit: [[1, 2, 3], [4]])
        #expect(log.mapGrowths.load(ordering: .relaxed) >= 1)
        #expect(try results.flatMap { try $0.get() }.map(\.position.rawValue) == Array(1...6000))
        let audit = try log.auditEntries()
        #expect(audit.map(\.0) == [1, 2])
        #expect(audit.map(\.1) == [[1, 2, 3], [4]])
    }

    @Test("audit entries are numbered densely across commits and read from a sequence number")
    func audit() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            try log.appendAudit([[10], [11]])
            _ = log.appendGroup([], audit: [[12]])
        }
        let log = try EventLog(directory: dir.path)
        try log.appendAudit([[13]])
        #expect(try log.auditEntries().map(\.1) == [[10], [11], [12], [13]])
        #expect(try log.auditEntries(from: 3).map(\.0) == [3, 4])
        #expect(try log.auditEntries(from: 2, limit: 1).map(\.1) == [[11]])
        #expect(try log.stats().databases.first { $0.name == "audit" }?.entries == 4)
    }

    @Test("lastPosition and count follow commits")
    func lastPositionCache() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        #expect(log.lastPosition == 0 && log.count == 0)
        _ = log.appendGroup([[storeEvent("a"), storeEvent("b")], [storeEvent("c")]])
        #expect(log.lastPosition == 3 && log.count == 3)
        #expect(log.committedPosition.load(ordering: .relaxed) == 3)
        // A checkpoint write commits too, without moving the position.
        try log.saveCheckpoint(name: "x", position: 3, data: [1])
        #expect(log.committedPosition.load(ordering: .relaxed) == 3)
    }
}
