import JourneyCore
import Testing
@testable import JourneyStore

// A changed byte in a stored record, in each kind of field: every read of the record and
// `verify` answer `corrupt` at its position, never the changed event. The flips chosen keep the
// record well formed (the low bit of an ASCII letter, a timestamp, an amount, an enum value that
// stays in range), so without the checksum each would read as another valid event: the tests
// check that too.

/// A visit with every kind of field: enum, timestamp, amount, strings, attributes.
private let rich = Event(
    id: "v2", type: .visit, subject: "pat-1", at: 1_767_225_600_000, channel: .phone, source: "google",
    concern: "tooth hurts", location: "downtown", amountCents: 18_550,
    attrs: [Event.Attr(key: "lang", value: "es")])

/// A store of three events, `rich` at position 2, all for subject pat-1.
private func store(_ dir: StoreTestDirectory) throws -> EventLog {
    let log = try EventLog(directory: dir.path)
    _ = try log.append([storeEvent("v1", "pat-1"), rich, storeEvent("v3", "pat-1")])
    #expect(try log.verify().isClean)
    return log
}

/// One kind of field and where its first byte is in a record (for ChecksumTests).
struct ChecksumFieldKind: Sendable, CustomTestStringConvertible {
    var name: String
    var offset: @Sendable (EventView) -> Int
    var testDescription: String { name }
}

private func start(of field: EventRecord.StringField) -> @Sendable (EventView) -> Int {
    { view in view.bytes(field)!.baseAddress! - view.raw.baseAddress! }
}

private let fieldKinds: [ChecksumFieldKind] = [
    ChecksumFieldKind(name: "enum (channel)", offset: { _ in 4 }),  // phone (4) becomes sms (5)
    ChecksumFieldKind(name: "timestamp", offset: { _ in 12 }),  // one millisecond later
    ChecksumFieldKind(name: "amount", offset: { _ in 20 }),  // 185.51 (the only integer present)
    ChecksumFieldKind(name: "id", offset: start(of: .id)),  // "w2"
    ChecksumFieldKind(name: "subject", offset: start(of: .subject)),  // "qat-1"
    ChecksumFieldKind(name: "free text", offset: start(of: .concern)),  // "uooth hurts"
    ChecksumFieldKind(name: "attribute", offset: { $0.raw.count - 1 }),  // "er"
]

/// Flips the low bit of the byte at `offset(view)` of the record at position 2, leaving its
/// checksum as it was; answers the record's bytes after the flip, without the checksum.
@discardableResult
private func damage(_ log: EventLog, at offset: (EventView) -> Int, trailer: Bool = false) throws -> [UInt8] {
    let txn = try log.env.begin(readOnly: false)
    var framed = try #require(try txn.withValue(log.log, forKey: EventLog.be64(2)) { Array($0) })
    let i = trailer ? framed.count - 1 : try framed.withUnsafeBytes { raw in
        offset(try EventView(validating: UnsafeRawBufferPointer(rebasing: raw.dropLast(RecordFrame.trailerSize))))
    }
    framed[i] ^= 0x01
    try txn.put(log.log, key: EventLog.be64(2), value: framed)
    try txn.commit()
    return Array(framed.dropLast(RecordFrame.trailerSize))
}

/// Checks that `body` fails with `corrupt` naming position 2 and the checksum.
private func expectCorrupt(_ what: String, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what) answered from a damaged record")
    } catch let e as StoreError {
        #expect(e.code == .corrupt, "\(what): \(e)")
        #expect(e.context.position == 2, "\(what): \(e)")
        #expect(e.message.hasPrefix("record at position 2: checksum mismatch"), "\(what): \(e)")
    } catch {
        Issue.record("\(what): \(error)")
    }
}

@Suite("record checksums")
struct ChecksumTests {
    @Test("a flipped bit in each kind of field is found by every read and by verify", arguments: fieldKinds)
    fileprivate func flippedField(_ kind: ChecksumFieldKind) throws {
        let dir = StoreTestDirectory()
        let log = try store(dir)
        let changed = try damage(log, at: kind.offset)
        // Without its checksum the record would read as another valid event.
        let misread = try changed.withUnsafeBytes { try EventRecord.decode($0) }
        #expect(misread != rich)

        let report = try log.verify()
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.problems.first?.position == 2)
        #expect(report.problems.first?.message.hasPrefix("corrupt record: checksum mismatch") == true)
        #expect(report.recordsChecked == 3)

        expectCorrupt("events(from:)") { _ = try log.events(from: 1) }
        expectCorrupt("events(subjects:)") { _ = try log.events(subjects: ["pat-1"]) }
        expectCorrupt("scan") { try log.scan(from: 2) { _, _ in true } }
        expectCorrupt("fold") {
            var projector = Projector()
            _ = try log.fold(after: 0, into: &projector)
        }
        // Re-sending the event: neither a duplicate nor a conflict is answered from bad data.
        expectCorrupt("append of the same event") { _ = try log.append([rich]) }
        // The records around it still read.
        #expect(try log.events(from: 3).map(\.1.id) == ["v3"])
        #expect(try log.events(from: 1, limit: 1).map(\.1.id) == ["v1"])
    }

    @Test("a flipped bit in the checksum itself is found")
    func flippedTrailer() throws {
        let dir = StoreTestDirectory()
        let log = try store(dir)
        let record = try damage(log, at: { _ in 0 }, trailer: true)
        #expect(try record.withUnsafeBytes { try EventRecord.decode($0) } == rich)
        #expect(try log.verify().problems.map(\.position) == [2])
        expectCorrupt("events(from:)") { _ = try log.events(from: 2) }
    }

    @Test("a fold of many events stops at the damaged record with its position (reader thread)")
    func threadedFold() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        let n = Int(EventLog.foldAloneBelow) + 10
        _ = try log.append((1...n).map { storeEvent("e\($0)", "p\($0 % 50)") })
        let txn = try log.env.begin(readOnly: false)
        var framed = try #require(try txn.withValue(log.log, forKey: EventLog.be64(9_000)) { Array($0) })
        framed[12] ^= 0x40  // the timestamp
        try txn.put(log.log, key: EventLog.be64(9_000), value: framed)
        try txn.commit()
        var projector = Projector()
        let error = #expect(throws: StoreError.self) { _ = try log.fold(after: 0, into: &projector) }
        #expect(error?.code == .corrupt)
        #expect(error?.context.position == 9_000)
    }
}
