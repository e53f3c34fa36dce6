import Testing
@testable import JourneyCore

@Suite("Fact records: event ids against a cluster's base id, inline fields")
struct FactRecordTests {
    func shared(_ id: String, _ base: String) -> Int {
        Array(id.utf8).withUnsafeBytes { i in Array(base.utf8).withUnsafeBytes { b in FactRecord.sharedPrefix(i, b) } }
    }

    @Test func sharedPrefixIsTheLeadingCommonBytesUpToFifteen() {
        #expect(shared("e-1234567", "e-1234599") == 7)
        #expect(shared("e-12345678", "e-12345679") == 9)  // past the first eight bytes
        #expect(shared("e-1x345678", "e-12345678") == 3)  // inside the first eight bytes
        #expect(shared("abcdefgh", "abcdefgh") == 8)
        #expect(shared("abcdefghijklmno", "abcdefghijkZmno") == 11)  // in the last eight of fifteen
        #expect(shared("abcdefghijklmnopq", "abcdefghijklmnoZq") == 15)
        #expect(shared("abc", "abcdef") == 3)
        #expect(shared("", "abc") == 0)
        #expect(shared("xyz", "abc") == 0)
        #expect(shared("évt", "évu") == 3)  // é is two bytes
        #expect(shared("evt-2026-11-27-000001", "evt-2026-11-27-000002") == 15)  // 20 in common, capped
    }

    /// The record bit of each value field, by name (the record keeps `message` before `appointment`).
    static func recordBit(of field: EventRecord.StringField) -> Int? {
        switch field {
        case .source: FactRecord.Field.source.rawValue
        case .medium: FactRecord.Field.medium.rawValue
        case .campaign: FactRecord.Field.campaign.rawValue
        case .term: FactRecord.Field.term.rawValue
        case .agent: FactRecord.Field.agent.rawValue
        case .conversation: FactRecord.Field.conversation.rawValue
        case .concern: FactRecord.Field.concern.rawValue
        case .appointment: FactRecord.Field.appointment.rawValue
        case .location: FactRecord.Field.location.rawValue
        case .provider: FactRecord.Field.provider.rawValue
        case .message: FactRecord.Field.message.rawValue
        default: nil
        }
    }

    @Test func valueFieldBitTableMatchesTheFieldMapping() {
        // Every value field's record bit, by table and by name; the table holds nothing else.
        var fields = 0
        for f in EventRecord.StringField.allCases where Projector.FieldValues.stringFields & (1 << UInt16(f.rawValue)) != 0 {
            #expect(Projector.FieldValues.bit(ofField: f.rawValue) == FactRecordTests.recordBit(of: f), "\(f)")
            fields += 1
        }
        #expect(fields == 11)
        #expect(Projector.FieldValues.bit(ofField: EventRecord.StringField.message.rawValue) == FactRecord.Field.message.rawValue)
        #expect(Projector.FieldValues.bit(ofField: EventRecord.StringField.id.rawValue) == 0)
        #expect(Projector.FieldValues.bit(ofField: EventRecord.StringField.referrer.rawValue) == 0)
    }

    @Test func splitIdsOrderByWholeBytes() {
        func less(_ a: (String, Int, String), _ b: (String, Int, String)) -> Bool {
            Array(a.0.utf8).withUnsafeBytes { ab in Array(a.2.utf8).withUnsafeBytes { asx in
                Array(b.0.utf8).withUnsafeBytes { bb in Array(b.2.utf8).withUnsafeBytes { bsx in
                    FactRecord.SplitID(base: ab, shared: a.1, suffix: asx)
                        .precedes(FactRecord.SplitID(base: bb, shared: b.1, suffix: bsx))
                } }
            } }
        }
        // "e-12" + "5" = "e-125" against whole "e-13".
        #expect(less(("e-1234", 4, "5"), ("e-13", 0, "e-13")))
        #expect(!less(("e-13", 0, "e-13"), ("e-1234", 4, "5")))
        // Equal ids are not less, however split.
        #expect(!less(("abcdef", 3, "xy"), ("abq", 0, "abcxy")))
        #expect(!less(("abq", 0, "abcxy"), ("abcdef", 3, "xy")))
        // A prefix sorts first.
        #expect(less(("abcdef", 2, ""), ("abcdef", 3, "")))
        #expect(!less(("abcdef", 3, ""), ("abcdef", 2, "")))
        // Bytes, not characters: "Z" (0x5A) < "a" (0x61) < "é" (0xC3 0xA9).
        #expect(less(("xZ", 2, ""), ("xa", 2, "")))
        #expect(less(("x", 1, "a"), ("x", 1, "é")))
    }
    /// The log of one cluster, as bytes.
    func logBytes(_ p: Projector, _ id: String) -> [UInt8] {
        p.clusters[Int(p.root(of: id)!)].log.withUnsafeBytes { Array($0) }
    }

    @Test func inlineFieldsKeepTheirBytesInTheRecord() {
        let p = PJ.fold([PJ.ev("e1", .messageSent, "p", PJ.t0, message: "m-1")])
        // Worked out by hand: base id "e1" (length 2), then the record. `at` delta: zigzag of
        // 1,767,225,600,000 = 3,534,451,200,000 as a varint; header 0x85 (type 5, message_sent,
        // fields follow; email is its default channel); mask 1 << 10 (message) = 0x80 0x08; the
        // message inline: length 3 and "m-1"; the id: no suffix, 2 bytes shared with the base.
        #expect(logBytes(p, "p") == [0x02, 0x65, 0x31, 0x80, 0xA0, 0xD5, 0xED, 0xEE, 0x66, 0x85, 0x80, 0x08,
                                     0x03, 0x6D, 0x2D, 0x31, 0x02])
        // Nothing of it went to the value table.
        #expect(p.values.count == 0)
        let f = p.clusters[Int(p.root(of: "p")!)].facts[0]
        #expect(f.message == 13)  // token: 1 + the offset of the length varint
        #expect(p.clusters[Int(p.root(of: "p")!)].inlineString(f.message) == "m-1")
    }

    @Test func equalInlineStringsSettleToOneTokenPastTheLinearLimit() {
        // 40 conversations of two events each in one cluster (past the 16 compared one by one),
        // the second event of each on another alias merged in: each conversation counts once.
        var events: [Event] = []
        for i in 0..<40 {
            events.append(PJ.ev("a\(i)", .chat, "p", PJ.t0 + Int64(i) * 10, conversation: "conv-\(i)"))
            events.append(PJ.ev("b\(i)", .chat, "q", PJ.t0 + Int64(i) * 10 + 1, conversation: "conv-\(i)", resolved: i % 2 == 0))
        }
        events.append(PJ.identify("i", "q", "p", PJ.t0 + 1000))
        let p = PJ.fold(events.shuffled())
        let report = p.contacts()
        #expect(report.channels == [.init(channel: .chat, conversations: 40, resolved: 20, firstContactResolved: 0, handoffs: 0)])
        let h = p.handoff(id: "q", asOf: PJ.t0 + 1000)!
        #expect(h.conversation == "conv-39")
        #expect(h.contacts == 2)
        #expect(h.conversationStatus == "open")
    }

    @Test func aSnapshotWithBadInlineBytesIsRefused() throws {
        let p = PJ.fold([PJ.ev("e1", .chat, "p", PJ.t0, conversation: "conv-zz")])
        let bytes = p.serialize()
        #expect(try Projector(deserializing: bytes).handoff(id: "p", asOf: PJ.t0)?.conversation == "conv-zz")
        let at = try #require(bytes.indices.first { Array(bytes[$0..<min($0 + 7, bytes.count)]) == Array("conv-zz".utf8) })
        var bad = bytes
        bad[at] = 0xFF  // invalid UTF-8
        #expect(throws: SnapshotError.self) { try Projector(deserializing: bad) }
        bad = bytes
        bad[at - 1] = 0x7F  // a length past the end of the record
        #expect(throws: SnapshotError.self) { try Projector(deserializing: bad) }
    }
    /// A log: base id "e1", then "e1" at 10 and "e2" at 110, the second's time delta (200
    /// zigzagged) written as a three-byte varint where two suffice when `overlong`.
    func twoRecords(overlong: Bool) -> [UInt8] {
        [0x02, 0x65, 0x31, 0x14, 0x01, 0x02] + (overlong ? [0xC8, 0x81, 0x00] : [0xC8, 0x01]) + [0x01, 0x11, 0x32]
    }

    @Test func anInsertMeasuresTheSuccessorsDeltaAsStored() {
        var c = Cluster(log: ByteLog(twoRecords(overlong: true)), lastAt: 110, lastStart: 6, head: 0, memberCount: 1, canonical: 0)
        // A web visit "e3" at 50, between the two.
        var record = [UInt8](repeating: 0, count: Cluster.headroom + 1 + Cluster.idRoom + 2)
        record[Cluster.headroom] = 0x01
        let last = record.withUnsafeMutableBytes { r in
            Array("e3".utf8).withUnsafeBytes { c.insert(at: 50, id: $0, record: r, bodyEnd: Cluster.headroom + 1) }
        }
        #expect(!last)
        #expect(c.facts.map(\.at) == [10, 50, 110])
        // "e2" keeps a minimal delta from 50: zigzag(60) = 120.
        #expect(c.log.withUnsafeBytes { Array($0) } == [0x02, 0x65, 0x31, 0x14, 0x01, 0x02, 0x50, 0x01, 0x11, 0x33, 0x78, 0x01, 0x11, 0x32])
    }

    @Test func aSnapshotWithAnOverlongTimeDeltaIsRefused() throws {
        let p = PJ.fold([PJ.ev("e1", .webVisit, "p", 10), PJ.ev("e2", .webVisit, "p", 110)])
        let log = p.clusters[Int(p.root(of: "p")!)].log.withUnsafeBytes { Array($0) }
        #expect(log == twoRecords(overlong: false))
        // The one cluster's log ends the snapshot, after its length (one byte here).
        let bytes = p.serialize()
        #expect(Array(bytes.suffix(log.count + 1)) == [UInt8(log.count)] + log)
        let prefix = Array(bytes.dropLast(log.count + 1))
        #expect(try Projector(deserializing: prefix + [UInt8(log.count)] + log).eventCount == 2)
        let overlong = twoRecords(overlong: true)
        #expect(throws: SnapshotError.self) { try Projector(deserializing: prefix + [UInt8(overlong.count)] + overlong) }
    }
}
