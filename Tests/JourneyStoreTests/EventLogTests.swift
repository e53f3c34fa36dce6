import Foundation
import JourneyCore
import JourneyProtocol
import Synchronization
import Testing
@testable import JourneyStore

/// A fresh directory under /tmp, removed when the test ends.
final class StoreTestDirectory {
    let path: String
    init() {
        var template = Array("/tmp/journey-store-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { path + "/" + name }
}

func storeEvent(_ id: String, _ subject: String = "s1", at: Int64 = 1_700_000_000_000, type: EventType = .webVisit,
        source: String? = nil) -> Event {
    Event(id: id, type: type, subject: subject, at: at, source: source)
}

func outcomePositions(_ outcomes: [EventLog.AppendOutcome]) -> [UInt64] { outcomes.map(\.position.rawValue) }

@Suite("EventLog")
struct EventLogTests {
    @Test("appends get dense positions and read back in order")
    func appendAndRead() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.sub("store"))
        #expect(log.lastPosition == 0)
        let batch = [storeEvent("a"), storeEvent("b", "s2", type: .call), storeEvent("c", source: "google")]
        #expect(try log.append(batch) == [.appended(1), .appended(2), .appended(3)])
        #expect(try log.append([storeEvent("d")]) == [.appended(4)])
        #expect(log.lastPosition == 4)
        #expect(log.count == 4)
        let read = try log.events(from: 2)
        #expect(read.map(\.0) == [2, 3, 4])
        #expect(read.map(\.1) == [batch[1], batch[2], storeEvent("d")])
        #expect(try log.events(from: 1, limit: 2).map(\.1.id) == ["a", "b"])
        #expect(try log.events(from: 5).isEmpty)
        #expect(try log.rawScanCount() == 4)
        #expect(try log.rawScanCount(from: 3) == 2)
    }

    @Test("scan lends zero-copy views and stops when asked")
    func scanStops() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append((1...10).map { storeEvent("e\($0)", at: Int64($0)) })
        var seen: [(UInt64, Int64)] = []
        try log.scan(from: 4) { p, view in
            seen.append((p, view.at))
            return p < 6
        }
        #expect(seen.map(\.0) == [4, 5, 6])
        #expect(seen.map(\.1) == [4, 5, 6])
    }

    @Test("the same id with the same content is a duplicate, with other content a conflict")
    func duplicateAndConflict() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        let a = Event(id: "a", type: .form, subject: "p", at: 10, attrs: [.init(key: "x", value: "1"), .init(key: "y", value: "2")])
        _ = try log.append([storeEvent("first"), a])
        // Equal as parsed (attrs in another order) → duplicate answering the stored position.
        let again = Event(id: "a", type: .form, subject: "p", at: 10, attrs: [.init(key: "y", value: "2"), .init(key: "x", value: "1")])
        #expect(try log.append([storeEvent("new"), again]) == [.appended(3), .duplicate(2)])
        var changed = a
        changed.at = 11
        let error = #expect(throws: StoreError.self) { try log.append([storeEvent("other"), changed]) }
        #expect(error?.code == .conflict)
        #expect(error?.context.id == "a")
        #expect(error?.context.batchIndex == 1)
        #expect(error?.context.position == 2)
        #expect(error?.message.contains("position 2") == true)
        #expect(log.lastPosition == 3)
    }

    @Test("a duplicate written with the other timestamp form is a duplicate; another instant is a conflict")
    func duplicateAcrossTimestampForms() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        let rfc = try EventParser.parse(#"{"id":"t","type":"booking","subject":"p","at":"2025-01-01T00:00:00Z","scheduled_for":"2025-01-02T10:00:00+01:00"}"#)
        let epoch = try EventParser.parse(#"{"id":"t","type":"booking","subject":"p","at":1735689600000,"scheduled_for":1735808400000}"#)
        let offset = try EventParser.parse(#"{"id":"t","type":"booking","subject":"p","at":"2025-01-01T02:00:00.000+02:00","scheduled_for":"2025-01-02T09:00:00Z"}"#)
        #expect(try log.append([rfc]) == [.appended(1)])
        #expect(try log.append([epoch]) == [.duplicate(1)])
        #expect(try log.append([offset]) == [.duplicate(1)])
        // One millisecond later is other content.
        let later = try EventParser.parse(#"{"id":"t","type":"booking","subject":"p","at":1735689600001,"scheduled_for":1735808400000}"#)
        let error = #expect(throws: StoreError.self) { try log.append([later]) }
        #expect(error?.code == .conflict)
        #expect(log.lastPosition == 1)
    }

    @Test("duplicates inside one batch: same content is a duplicate of the first, other content a conflict")
    func inBatch() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        #expect(try log.append([storeEvent("x"), storeEvent("y"), storeEvent("x")]) == [.appended(1), .appended(2), .duplicate(1)])
        let error = #expect(throws: StoreError.self) {
            try log.append([storeEvent("z"), storeEvent("w"), storeEvent("z", at: 5)])
        }
        #expect(error?.code == .conflict)
        #expect(error?.context.batchIndex == 2)
        #expect(error?.message.contains("batch index 0") == true)
        #expect(log.lastPosition == 2)
    }

    @Test("a failed batch appends nothing and leaves the indexes unchanged")
    func failedBatchAppendsNothing() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append([storeEvent("a", "p1"), storeEvent("b", "p1")])
        #expect(throws: StoreError.self) {
            try log.append([storeEvent("n1", "p2"), storeEvent("n2", "p2"), storeEvent("a", "p1", at: 1)])
        }
        #expect(log.lastPosition == 2)
        #expect(log.count == 2)
        #expect(try log.positions(subject: "p2") == [])
        let stats = try log.stats()
        #expect(stats.databases.first { $0.name == "ids" }?.entries == 2)
        #expect(stats.databases.first { $0.name == "subjects" }?.entries == 2)
        // The ids were not kept: the same events append afresh, right after the survivors.
        #expect(try log.append([storeEvent("n1", "p2"), storeEvent("n2", "p2")]) == [.appended(3), .appended(4)])
        #expect(try log.verify().isClean)
    }

    @Test("positions continue densely after reopening")
    func reopen() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            _ = try log.append([storeEvent("a"), storeEvent("b")])
        }
        let log = try EventLog(directory: dir.path)
        #expect(try log.append([storeEvent("b"), storeEvent("c")]) == [.duplicate(2), .appended(3)])
        #expect(try log.events().map(\.0) == [1, 2, 3])
    }

    @Test("a store open in this process cannot be opened twice, and can be once closed")
    func openTwice() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            let error = #expect(throws: StoreError.self) { try EventLog(directory: dir.path + "/.") }
            #expect(error?.code == .alreadyOpen)
            _ = try log.append([storeEvent("a")])
        }
        #expect(try EventLog(directory: dir.path).count == 1)
    }

    @Test("relaxed durability keeps the events across close")
    func relaxed() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path, durability: .relaxed)
            _ = try log.append([storeEvent("a"), storeEvent("b")])
        }
        #expect(try EventLog(directory: dir.path).count == 2)
    }

    @Test("a batch larger than the map grows it and commits whole")
    func mapGrowth() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 64 << 10)
        let events = (0..<20_000).map { storeEvent("event-\($0)", "patient-\($0 % 997)", at: Int64($0)) }
        let outcomes = try log.append(events)
        #expect(outcomePositions(outcomes) == Array(1...20_000))
        #expect(log.mapGrowths.load(ordering: .relaxed) >= 1)
        let stats = try log.stats()
        #expect(stats.events == 20_000)
        #expect(stats.lastPosition == 20_000)
        #expect(stats.mapSize > 64 << 10)
        #expect(stats.mapUsed <= stats.mapSize)
        #expect(stats.fileSize > 0)
        #expect(try log.positions(subject: "patient-5").count == 21)  // 5, 1002, …, 19945
    }

    @Test("one patient's history across subjects, in position order")
    func perSubject() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append([storeEvent("1", "A"), storeEvent("2", "B"), storeEvent("3", "A"), storeEvent("4", "C"), storeEvent("5", "AB")])
        #expect(try log.positions(subject: "A") == [1, 3])
        #expect(try log.positions(subject: "nobody") == [])
        #expect(try log.positions(subject: "") == [])
        #expect(try log.events(subjects: ["C", "A", "A"]).map(\.0) == [1, 3, 4])
        #expect(try log.events(subjects: ["C", "A"]).map(\.1.id) == ["1", "3", "4"])
    }

    @Test("checkpoints save, load, replace and hold multi-MB blobs")
    func checkpoints() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 1 << 20)
        #expect(try log.loadCheckpoint(name: "journeys") == nil)
        try log.saveCheckpoint(name: "journeys", position: 5, data: [1, 2, 3])
        let small = try #require(try log.loadCheckpoint(name: "journeys"))
        #expect(small.position == 5 && small.data == [1, 2, 3])

        // 3.5 MB: four chunks, and more than the initial map.
        let big = (0..<3_500_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 13) }
        try log.saveCheckpoint(name: "journeys", position: 9, data: big)
        try log.saveCheckpoint(name: "funnel", position: 7, data: [])
        let loaded = try #require(try log.loadCheckpoint(name: "journeys"))
        #expect(loaded.position == 9)
        #expect(loaded.data == big)
        #expect(try log.loadCheckpoint(name: "funnel")?.data == [])
        #expect(try log.checkpointNames() == ["funnel", "journeys"])
        // Replacing with a small blob removes the old chunks: 2 headers + 1 chunk remain.
        try log.saveCheckpoint(name: "journeys", position: 10, data: [9])
        #expect(try log.stats().databases.first { $0.name == "checkpoints" }?.entries == 3)
        #expect(try log.loadCheckpoint(name: "journeys")?.data == [9])
        let error = #expect(throws: StoreError.self) { try log.saveCheckpoint(name: "a\u{0}b", position: 0, data: []) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("verify is clean on a good store and names the position of a corrupt record")
    func verify() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        _ = try log.append((0..<100).map { storeEvent("e\($0)", "p\($0 % 7)") })
        let clean = try log.verify()
        #expect(clean.isClean, "\(clean.problems)")
        #expect(clean.recordsChecked == 100 && clean.idEntriesChecked == 100 && clean.subjectEntriesChecked == 100)

        // Damage it behind the log's back: a garbage record at 102 (leaving a gap at 101), and a
        // stale ids entry pointing nowhere.
        let txn = try log.env.begin(readOnly: false)
        try txn.put(log.log, key: EventLog.be64(102), value: [1, 2, 3])
        try txn.put(log.ids, key: Array("ghost".utf8), value: EventLog.be64(500))
        try txn.commit()
        let report = try log.verify()
        #expect(report.problems.count == 3, "\(report.problems)")
        #expect(report.problems.map(\.position) == [102, 102, 500])
        #expect(report.problems[0].message.contains("101"))
        #expect(report.problems[1].message.contains("too short for its checksum"))
        #expect(report.problems[2].message.contains("ghost"))
        // Reading over the damaged record fails with its position instead of crashing.
        let error = #expect(throws: StoreError.self) { try log.events(from: 100) }
        #expect(error?.code == .corrupt)
        #expect(error?.context.position == 102)
    }

    @Test("a store of a future format version is refused")
    func futureVersion() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            let txn = try log.env.begin(readOnly: false)
            try txn.put(log.meta, key: EventLog.versionKey, value: [3, 0, 0, 0])
            try txn.commit()
        }
        let error = #expect(throws: StoreError.self) { try EventLog(directory: dir.path) }
        #expect(error?.code == .futureVersion)
        #expect(error?.message.contains("version 3") == true)
    }

    @Test("a backup opens and holds the same events")
    func backup() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.sub("live"))
        let events = (0..<500).map { storeEvent("e\($0)", "p\($0 % 13)", at: Int64($0)) }
        _ = try log.append(events)
        try log.saveCheckpoint(name: "c", position: 500, data: [4, 2])
        try log.backup(to: dir.sub("copy"))
        let copy = try EventLog(directory: dir.sub("copy"))
        #expect(try copy.events().map(\.1) == events)
        #expect(try copy.positions(subject: "p3") == (try log.positions(subject: "p3")))
        #expect(try copy.loadCheckpoint(name: "c")?.data == [4, 2])
        #expect(try copy.verify().isClean)
        // A second backup into the same place refuses to overwrite it.
        #expect(throws: StoreError.self) { try log.backup(to: dir.sub("copy")) }
    }

    @Test("mdb_stat from lmdb-utils reads the store", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/mdb_stat")))
    func mdbStat() throws {
        let dir = StoreTestDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            _ = try log.append((0..<42).map { storeEvent("e\($0)") })
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mdb_stat")
        process.arguments = ["-a", dir.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // The named databases each have a block; log and ids hold 42 entries.
        for name in ["log", "ids", "subjects", "meta", "checkpoints", "audit"] {
            #expect(output.contains("Status of \(name)"), "\(output)")
        }
        #expect(output.components(separatedBy: "Entries: 42").count - 1 == 3, "\(output)")  // log, ids, subjects
    }

    @Test("readers on other threads see dense snapshots while batches append and the map grows")
    func concurrentReaders() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 64 << 10)
        let batches = 40, perBatch = 250, total = UInt64(batches * perBatch)
        // Problems seen by the readers, and how many scans each completed.
        let problems = Mutex<[String]>([])
        let scans = Mutex<[Int]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var n = 0
                var seen: UInt64 = 0
                do {
                    while seen < total {
                        var expected: UInt64 = 1
                        try log.scan { p, view in
                            if p != expected || view.subject.count < 2 {
                                problems.withLock { $0.append("gap or bad record at \(p), expected \(expected)") }
                            }
                            expected += 1
                            return true
                        }
                        seen = expected - 1
                        if seen % UInt64(perBatch) != 0 {
                            problems.withLock { $0.append("a snapshot saw part of a batch: \(seen)") }
                        }
                        n += 1
                    }
                } catch {
                    problems.withLock { $0.append("reader failed: \(error)") }
                }
                scans.withLock { [n] in $0.append(n) }
            }
        }
        for b in 0..<batches {
            _ = try log.append((0..<perBatch).map { storeEvent("b\(b)-\($0)", "p\($0 % 50)", at: Int64($0)) })
        }
        group.wait()
        #expect(problems.withLock { $0 } == [])
        #expect(scans.withLock { $0 }.count == 2)
        #expect(log.count == batches * perBatch)
        #expect(log.mapGrowths.load(ordering: .relaxed) >= 1)
    }

    @Test("appending from inside a scan when the map is full fails instead of deadlocking")
    func appendInsideScan() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path, mapSize: 64 << 10)
        _ = try log.append([storeEvent("a")])
        var failure: StoreError?
        try log.scan { _, _ in
            do { _ = try log.append((0..<2000).map { storeEvent("x\($0)") }) } catch { failure = error as? StoreError }
            return false
        }
        #expect(failure?.code == .io)
        #expect(failure?.message.contains("EDEADLK") == true)
        #expect(log.count == 1)
    }
}

@Suite("EncodedBatch key order")
struct EncodedBatchOrderTests {
    private func batch(_ pairs: [(String, String)]) throws -> EventLog.EncodedBatch {
        var b = EventLog.EncodedBatch()
        for (id, subject) in pairs { try b.append(storeEvent(id, subject)) }
        return b
    }

    @Test("sortKeys orders ids and subjects by LMDB's byte order, ties by record; adding forgets it")
    func order() throws {
        // Prefixes of 8 bytes shared ("subject-…"), a key that is a prefix of another, a tie.
        var b = try batch([("e-10", "subject-b"), ("e-1", "subject-"), ("e-100000002", "p"),
                           ("e-100000001", "subject-b"), ("E", "subject-a")])
        #expect(b.idOrder.isEmpty && b.subjectOrder.isEmpty)
        b.sortKeys()
        #expect(b.idOrder == [4, 1, 0, 3, 2])
        #expect(b.subjectOrder == [2, 1, 4, 0, 3])
        try b.append(storeEvent("a"))
        #expect(b.idOrder.isEmpty && b.subjectOrder.isEmpty)
    }

    @Test("sortKeys past 16 shared bytes, and keys that differ only by length")
    func orderOfLongAndPaddedKeys() throws {
        // Ids sharing their first 16 bytes ("visit-2026-01-01"), one ending there; subjects of
        // up to 16 bytes where one is another plus a trailing "0" or a longer run of bytes.
        var b = try batch([("visit-2026-01-01T10", "anon-0000000000"), ("visit-2026-01-01", "anon-00000000000"),
                           ("visit-2026-01-01T09", "anon-0000000000"), ("visit-2026-01-01T1", "anon-000000000"),
                           ("visit-2026-01-01T09:30", "anon-0000000000000")])
        b.sortKeys()
        #expect(b.idOrder == [1, 2, 4, 3, 0])  // "0" (0x30) sorts before "1"
        #expect(b.subjectOrder == [3, 0, 2, 1, 4])
    }

    /// Ids and subjects as given, and again behind a shared 17-byte prefix (so that keys tie on
    /// their first 16 bytes and the sorts and duplicate checks compare the bytes after them).
    @Test("batches with and without key order write the same store", arguments: ["", "visit-2026-01-01T"])
    func sameStore(prefix p: String) throws {
        func run(sorted: Bool) throws -> ([[EventLog.AppendOutcome]], [[UInt64]], [String]) {
            let dir = StoreTestDirectory()
            let log = try EventLog(directory: dir.path)
            _ = try log.append([storeEvent(p + "x3", p + "s2")])
            var batches = [
                try batch([(p + "x9", p + "s3"), (p + "x1", p + "s2"), (p + "x3", p + "s2"), (p + "x1", p + "s2")]),
                try batch([(p + "x0", p + "s1"), (p + "x9", p + "s3"), (p + "x5", p + "s10"), (p + "x2", p + "s1")]),
            ]
            if sorted { for i in batches.indices { batches[i].sortKeys() } }
            let r = try log.appendEncoded(batches)
            #expect(r.failure == nil)
            #expect(try log.verify().problems.isEmpty)
            let positions = try ["s1", "s2", "s3", "s10"].map { try log.positions(subject: p + $0) }
            return (r.outcomes, positions, try log.events().map(\.1.id))
        }
        let plain = try run(sorted: false)
        let sorted = try run(sorted: true)
        #expect(sorted.0 == plain.0 && sorted.1 == plain.1 && sorted.2 == plain.2)
        // x3 stored at 1; then x9 2, x1 3, x3 dup 1, x1 dup 3; x0 4, x9 dup 2, x5 5, x2 6.
        #expect(sorted.0 == [[.appended(2), .appended(3), .duplicate(1), .duplicate(3)],
                             [.appended(4), .duplicate(2), .appended(5), .appended(6)]])
        #expect(sorted.1 == [[4, 6], [1, 3], [2], [5]])
    }
}
