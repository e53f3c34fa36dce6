import Foundation
import JourneyCore
import Testing
@testable import JourneyStore

// `StoreMigration` on the fixture store of format 1 (Tests/Fixtures/store-v1, written by the
// release before checksums; see its README): refused by every open before, the same events,
// positions, indexes and checkpoint after, every record then carrying its checksum.

/// The fixture's directory in the source tree.
let storeV1Fixture: String = {
    let tests = ((#filePath as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    return tests + "/Fixtures/store-v1"
}()

/// A copy of the fixture store in `dir`/`name` (never opened in place).
func copyFixtureStore(_ dir: StoreTestDirectory, _ name: String = "store") throws -> String {
    let path = dir.sub(name)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: storeV1Fixture + "/data.mdb", toPath: path + "/data.mdb")
    return path
}

/// The fixture's events, in file order (their positions are 1, 2, … in that order).
private func fixtureEvents() throws -> [Event] {
    let text = try String(contentsOfFile: storeV1Fixture + "/events.ndjson", encoding: .utf8)
    return try text.split(separator: "\n").map { try EventParser.parse(String($0)) }
}

@Suite("store migration")
struct MigrationTests {
    @Test("a store of format 1 is refused by every open, read-only or not, naming journeyd migrate")
    func oldFormatRefused() throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        for access in [EventLog.Access.readWrite, .readOnly] {
            let error = #expect(throws: StoreError.self) { try EventLog(directory: path, access: access) }
            #expect(error?.code == .oldFormat)
            #expect(error?.message.contains("format version 1") == true)
            #expect(error?.message.contains("journeyd migrate --data \(path)") == true)
        }
        let error = #expect(throws: StoreError.self) { try JourneyEngine(directory: path) }
        #expect(error?.code == .oldFormat)
        // Refusing wrote nothing.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    @Test("migrate keeps every event at its position, the indexes and the checkpoint, and adds checksums")
    func migrateFixture() throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        var seen: [StoreMigration.Progress] = []
        let report = try StoreMigration.migrate(directory: path) { seen.append($0) }
        #expect(report.fromVersion == 1 && report.toVersion == 2)
        #expect(report.events == 22)
        // ids 22 + subjects 22 + checkpoint header and chunk 2 + meta's version 1 (rewritten).
        #expect(report.indexEntries == 47)
        #expect(seen.last == StoreMigration.Progress(done: 22, total: 22))

        let log = try EventLog(directory: path)
        let events = try fixtureEvents()
        #expect(events.count == 22)
        let stored = try log.events()
        #expect(stored.map(\.0) == Array(1...22))
        #expect(stored.map(\.1) == events)
        // The subjects index: positions by subject, as the file's order gives them.
        #expect(try log.positions(subject: "anon-1") == [1, 2, 3, 4, 5, 6])
        #expect(try log.positions(subject: "pat-100") == [7, 8, 9, 10, 11, 22])
        #expect(try log.positions(subject: "anon-2") == [12, 13, 14])
        #expect(try log.positions(subject: "pat-200") == [15, 16])
        #expect(try log.positions(subject: "anon-3") == [17, 18])
        #expect(try log.positions(subject: "pat-300") == [19, 20, 21])
        #expect(try log.events(subjects: ["anon-1", "pat-100"]).map(\.0) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 22])
        let report2 = try log.verify()
        #expect(report2.isClean, "\(report2.problems)")
        #expect(report2.recordsChecked == 22 && report2.idEntriesChecked == 22 && report2.subjectEntriesChecked == 22)
        #expect(report2.checkpointsChecked == 1)
        // The ids index: a re-sent event is a duplicate at its old position.
        #expect(try log.append([events[10]]) == [.duplicate(11)])
        #expect(try log.append([storeEvent("e23", "pat-300")]) == [.appended(23)])
        // Every record now carries its checksum.
        try log.read { txn in
            try txn.withCursor(log.log) { c in
                var op = LMDBCursor.Operation.first
                var n = 0
                while try c.get(op, { _, v in _ = try RecordFrame.open(v) }) != nil {
                    n += 1
                    op = .next
                }
                #expect(n == 23)
            }
        }
        // Nothing of the migration is left beside the store.
        let left = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(left == ["data.mdb", "lock.mdb", "writer.lock"])
    }

    @Test("projections of the migrated store, restored or replayed, equal those the old store gave")
    func projections() throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        _ = try StoreMigration.migrate(directory: path)
        let events = try fixtureEvents()
        // The same events folded afresh, straight from the fixture's file.
        var expected = Projector()
        for e in events { expected.apply(e) }
        let engine = try JourneyEngine(directory: path)
        #expect(engine.projectionStats.position == 22)
        try engine.rebuild()
        #expect(engine.projectionStats.events == 22)
        #expect(engine.projectionStats.clusters == expected.clusterCount)
        #expect(expected.clusterCount == 4)
    }

    @Test("a second migrate has nothing to do")
    func idempotent() throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        _ = try StoreMigration.migrate(directory: path)
        let again = try StoreMigration.migrate(directory: path)
        #expect(again.alreadyCurrent)
        #expect(again.events == 0)
        #expect(try EventLog(directory: path, access: .readOnly).count == 22)
    }

    @Test("what an interrupted migration leaves is cleared by the next, the original still whole")
    func interrupted() throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        // Before the swap: a half-built copy and the original's second name.
        try FileManager.default.createDirectory(atPath: path + "/" + StoreMigration.newDirectoryName, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path + "/migrate.new/data.mdb"))
        #expect(link(path + "/data.mdb", path + "/" + StoreMigration.keptOriginalName) == 0)
        // The store is still the original, refused as such.
        #expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) }
        let report = try StoreMigration.migrate(directory: path)
        #expect(report.events == 22)
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).sorted() == ["data.mdb", "lock.mdb", "writer.lock"])
        #expect(try EventLog(directory: path).verify().isClean)
    }

    @Test("migrate refuses while another process or handle writes the store")
    func busy() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("store")
        let log = try EventLog(directory: path)
        _ = try log.append([storeEvent("a")])
        let error = #expect(throws: StoreError.self) { try StoreMigration.migrate(directory: path) }
        #expect(error?.code == .alreadyOpen || error?.code == .storeBusy)
    }

    @Test("unknown formats are refused, never misread", arguments: [UInt32(0), 3, 0xFFFF_FFFF])
    func unknownVersions(version: UInt32) throws {
        let dir = StoreTestDirectory()
        let path = try copyFixtureStore(dir)
        _ = try StoreMigration.migrate(directory: path)
        do {
            let log = try EventLog(directory: path)
            let txn = try log.env.begin(readOnly: false)
            try txn.put(log.meta, key: EventLog.versionKey, value: withUnsafeBytes(of: version.littleEndian) { Array($0) })
            try txn.commit()
        }
        let expected: StoreError.Code = version == 0 ? .corrupt : .futureVersion
        let opened = #expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) }
        #expect(opened?.code == expected)
        let migrated = #expect(throws: StoreError.self) { try StoreMigration.migrate(directory: path) }
        #expect(migrated?.code == expected)
    }

    @Test("a malformed version entry, or none in a store with events, is corrupt")
    func malformedVersion() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("store")
        do {
            let log = try EventLog(directory: path)
            _ = try log.append([storeEvent("a")])
            let txn = try log.env.begin(readOnly: false)
            try txn.put(log.meta, key: EventLog.versionKey, value: [2, 0, 0])
            try txn.commit()
        }
        #expect((#expect(throws: StoreError.self) { try EventLog(directory: path) })?.code == .corrupt)
        do {
            let env = try LMDBEnvironment(path: path, maxDatabases: 8, mapSize: 1 << 20)
            let txn = try env.begin(readOnly: false)
            let meta = try txn.openDatabase("meta")
            #expect(try txn.delete(meta, key: EventLog.versionKey))
            try txn.commit()
        }
        let error = #expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("no format version") == true)
    }

    @Test("a file that is not an LMDB environment is refused as corrupt")
    func garbageFile() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }).write(to: URL(fileURLWithPath: path + "/data.mdb"))
        #expect((#expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) })?.code == .corrupt)
        #expect((#expect(throws: StoreError.self) { try StoreMigration.migrate(directory: path) })?.code == .corrupt)
    }
}
