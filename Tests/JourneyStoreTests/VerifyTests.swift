import JourneyCore
import Testing
@testable import JourneyStore

// `verify` on stores damaged on purpose, through a write transaction of the test's own: each
// problem is found and names the log position concerned.

/// Ten events e1…e10 at positions 1…10, subjects p0…p2, each with source "google".
private func tenEvents(_ dir: StoreTestDirectory) throws -> EventLog {
    let log = try EventLog(directory: dir.path)
    _ = try log.append((1...10).map { storeEvent("e\($0)", "p\($0 % 3)", source: "google") })
    let clean = try log.verify()
    #expect(clean.isClean, "\(clean.problems)")
    return log
}

/// Rewrites the record at `position` with the byte at `offset(view)` XORed with `mask`, sealed
/// again with the checksum of its new bytes (as a record written wrong would be), so that what
/// is tested is the checks behind the checksum (ChecksumTests test the checksum itself).
private func flip(_ log: EventLog, position: UInt64, mask: UInt8, at offset: (EventView) -> Int) throws {
    let txn = try log.env.begin(readOnly: false)
    let framed = try #require(try txn.withValue(log.log, forKey: EventLog.be64(position)) { Array($0) })
    var bytes = Array(framed.dropLast(RecordFrame.trailerSize))
    let i = try bytes.withUnsafeBytes { raw in offset(try EventView(validating: raw)) }
    bytes[i] ^= mask
    try txn.put(log.log, key: EventLog.be64(position), value: RecordFrame.sealed(bytes))
    try txn.commit()
}

/// The offset of the first byte of a string field within its record.
private func start(of field: EventRecord.StringField) -> (EventView) -> Int {
    { view in view.bytes(field)!.baseAddress! - view.raw.baseAddress! }
}

@Suite("verify finds damage")
struct VerifyTests {
    @Test("a flipped byte that breaks the record's structure: does not decode, at its position")
    func flippedTypeByte() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try flip(log, position: 3, mask: 0x80, at: { _ in 1 })  // the event type byte
        let report = try log.verify()
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.problems.first?.position == 3)
        #expect(report.problems.first?.message.contains("does not decode") == true)
        #expect(report.problems.first?.description.hasPrefix("position 3: ") == true)
    }

    @Test("a flipped byte in an id: the ids index disagrees in both directions")
    func flippedIdByte() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try flip(log, position: 4, mask: 0x01, at: start(of: .id))  // "e4" becomes "d4"
        let report = try log.verify()
        #expect(report.problems.map(\.position) == [4, 4], "\(report.problems)")
        #expect(report.problems.map(\.message) == [
            #"id "d4" is missing from the ids index"#,
            #"id entry of "e4" points to a record with another id"#,
        ])
    }

    @Test("a flipped byte in a subject: the subjects index disagrees in both directions")
    func flippedSubjectByte() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try flip(log, position: 5, mask: 0x02, at: start(of: .subject))  // "p2" becomes "r2"
        let report = try log.verify()
        #expect(report.problems.map(\.position) == [5, 5], "\(report.problems)")
        #expect(report.problems.map(\.message) == [
            #"subject "r2" index entry is missing"#,
            #"subject entry of "p2" points to a record with another subject"#,
        ])
    }

    @Test("a flipped high bit in another string: invalid UTF-8, at its position")
    func flippedStringHighBit() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try flip(log, position: 7, mask: 0x80, at: { start(of: .source)($0) + 2 })  // "go\u{EF}gle"
        let report = try log.verify()
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.problems.first?.position == 7)
        #expect(report.problems.first?.message.contains("invalid UTF-8") == true)
    }

    @Test("a missing ids entry names the record's position")
    func missingIdEntry() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        let txn = try log.env.begin(readOnly: false)
        #expect(try txn.delete(log.ids, key: Array("e6".utf8)))
        try txn.commit()
        let report = try log.verify()
        #expect(report.problems.map(\.description) == [#"position 6: id "e6" is missing from the ids index"#])
        #expect(report.idEntriesChecked == 9)
    }

    @Test("a missing subjects entry names the record's position")
    func missingSubjectEntry() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        let txn = try log.env.begin(readOnly: false)
        // e8's subject is p2; remove only its pair, p2's other positions stay.
        let deleted = try Array("p2".utf8).withUnsafeBytes { key in
            try EventLog.be64(8).withUnsafeBytes { value in try txn.delete(log.subjects, key: key, value: value) }
        }
        #expect(deleted)
        try txn.commit()
        let report = try log.verify()
        #expect(report.problems.map(\.description) == [#"position 8: subject "p2" index entry is missing"#])
        #expect(report.subjectEntriesChecked == 9)
    }

    @Test("a checkpoint ahead of the log names its position and the log's end")
    func checkpointAhead() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try log.saveCheckpoint(name: "projector", position: 10, data: [1, 2, 3])
        #expect(try log.verify().isClean)
        #expect(try log.verify().checkpointsChecked == 1)
        try log.saveCheckpoint(name: "projector", position: 12, data: [1, 2, 3])
        let report = try log.verify()
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.problems.first?.position == 12)
        #expect(report.problems.first?.message.contains("ahead of the log's last position 10") == true)
    }

    @Test("a checkpoint missing a chunk is reported")
    func checkpointMissingChunk() throws {
        let dir = StoreTestDirectory()
        let log = try tenEvents(dir)
        try log.saveCheckpoint(name: "projector", position: 9, data: [1, 2, 3])
        let txn = try log.env.begin(readOnly: false)
        #expect(try txn.delete(log.checkpoints, key: Array("projector".utf8) + [0] + EventLog.be32(1)))
        try txn.commit()
        let report = try log.verify()
        #expect(report.problems.map(\.description) == [#"position 9: checkpoint "projector" is missing chunk 1 of 1"#])
    }
}
