import JourneyCore
import Testing
@testable import JourneyStore

// `EventLog.fold`: a reader thread checks records and interns their strings while the calling
// thread folds them. It must build exactly the projector that folding each record in turn
// builds, stop at the first bad record with the events before it folded, and give the
// projector back its string tables whichever way it ends.

/// A log of `n` generated events (more than `EventLog.foldAloneBelow`, so that `fold` takes two
/// threads), and the events.
private func practiceLog(_ dir: StoreTestDirectory, _ n: Int) throws -> (EventLog, [Event]) {
    let events = Array(PracticeGenerator(.init(events: n, seed: 29, patientsPerDay: 40)))
    let log = try EventLog(directory: dir.path, durability: .relaxed)
    var start = 0
    while start < events.count {
        let end = Swift.min(events.count, start + 5000)
        _ = try log.append(Array(events[start..<end]))
        start = end
    }
    return (log, events)
}

/// The projector of `log`'s events from position 1 through `through`, each folded in turn on
/// this thread.
private func foldedOneByOne(_ log: EventLog, through: UInt64 = .max) throws -> Projector {
    var p = Projector()
    try log.scan(from: 1) { position, view in
        guard position <= through else { return false }
        try p.apply(view)
        return true
    }
    return p
}

/// Rewrites the first byte of the subject of the record at `position` as 0xFF (invalid UTF-8;
/// the record's layout stays well formed).
private func breakSubject(_ log: EventLog, at position: UInt64) throws {
    let txn = try log.env.begin(readOnly: false)
    // Sealed again with the checksum of its new bytes (as a record written wrong would be), so
    // that the UTF-8 check behind the checksum is what stops the fold.
    let framed = try #require(try txn.withValue(log.log, forKey: EventLog.be64(position)) { Array($0) })
    var bytes = Array(framed.dropLast(RecordFrame.trailerSize))
    let i = try bytes.withUnsafeBytes { raw in
        let view = try EventView(validating: raw)
        return view.bytes(.subject)!.baseAddress! - view.raw.baseAddress!
    }
    bytes[i] = 0xFF
    try txn.put(log.log, key: EventLog.be64(position), value: RecordFrame.sealed(bytes))
    try txn.commit()
}

@Suite("EventLog.fold")
struct LogFoldTests {
    static let n = 70_000

    @Test("two threads build the projector that folding each record in turn builds, byte for byte")
    func sameAsOneByOne() throws {
        let dir = StoreTestDirectory()
        let (log, events) = try practiceLog(dir, Self.n)
        #expect(UInt64(events.count) >= EventLog.foldAloneBelow)
        var p = Projector()
        var reported: [UInt64] = []
        let last = try log.fold(after: 0, into: &p) { reported.append($0) }
        #expect(last == UInt64(events.count))
        #expect(reported == [65_536])
        let expected = try foldedOneByOne(log)
        #expect(p.eventCount == events.count)
        #expect(p.serialize() == expected.serialize())
        // The string tables are back: queries answer.
        let subject = events[events.count / 2].subject
        #expect(p.canonicalId(of: subject) != nil)
        #expect(p.canonicalId(of: subject) == expected.canonicalId(of: subject))
        #expect(p.patient(id: subject, asOf: 1_800_000_000_000)?.json == expected.patient(id: subject, asOf: 1_800_000_000_000)?.json)
    }

    @Test("folding the rest after a position continues a projector (both ways of folding)")
    func continues() throws {
        let dir = StoreTestDirectory()
        let (log, events) = try practiceLog(dir, Self.n)
        let expected = try foldedOneByOne(log)
        // A long tail takes two threads, a short one the calling thread alone.
        for split in [UInt64(20_000), UInt64(events.count - 100)] {
            var p = try foldedOneByOne(log, through: split)
            let last = try log.fold(after: split, into: &p)
            #expect(last == UInt64(events.count))
            #expect(p.serialize() == expected.serialize(), "split at \(split)")
        }
        // Nothing after the last position: nothing folded, the position answered back.
        var p = expected
        #expect(try log.fold(after: UInt64(events.count), into: &p) == UInt64(events.count))
        #expect(p.serialize() == expected.serialize())
        // Past the last position: the same.
        #expect(try log.fold(after: UInt64(events.count) + 5, into: &p) == UInt64(events.count) + 5)
        #expect(p.serialize() == expected.serialize())
    }

    @Test("a record with invalid UTF-8 stops the fold at its position, with every event before it folded",
          arguments: [UInt64(1), 4096, 4097, 50_001, 70_000])
    func stopsAtBadRecord(position: UInt64) throws {
        let dir = StoreTestDirectory()
        let (log, _) = try practiceLog(dir, Self.n)
        try breakSubject(log, at: position)
        let expected = try foldedOneByOne(log, through: position - 1)
        var p = Projector()
        do {
            _ = try log.fold(after: 0, into: &p)
            Issue.record("the fold went past the bad record")
        } catch {
            #expect(error.code == .corrupt)
            #expect(error.context.position == position)
            #expect(error.message.contains("record at position \(position)"))
            #expect(error.message.contains("invalid UTF-8"))
        }
        #expect(p.eventCount == Int(position - 1))
        #expect(p.serialize() == expected.serialize())
    }
}
