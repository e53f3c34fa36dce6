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
