import JourneyCore
import Testing
@testable import JourneyStore

@Suite("Audit records")
struct AuditRecordTests {
    let sample = AuditRecord(at: 1_767_261_600_000, uid: 1000, pid: 4242, op: "handoff", id: "anon-7f3a")

    @Test("the binary form is the documented layout and reads back")
    func layoutAndRoundTrip() {
        let bytes = sample.encoded
        // at 8, uid 4, pid 4, op length 1 + "handoff" 7, id length 2 + "anon-7f3a" 9.
        #expect(bytes.count == 35)
        #expect(Array(bytes[8..<12]) == [0xE8, 0x03, 0, 0])  // 1000, little-endian
        #expect(bytes[16] == 7)
        #expect(Array(bytes[24..<26]) == [9, 0])
        #expect(bytes.withUnsafeBytes { AuditRecord(decoding: $0) } == sample)
        let empty = AuditRecord(at: -1, uid: 0, pid: -1, op: "", id: "")
        #expect(empty.encoded.withUnsafeBytes { AuditRecord(decoding: $0) } == empty)
    }

    @Test("every truncation and every extra byte is refused, never read past")
    func damagedRecordsAreRefused() {
        let bytes = sample.encoded
        for n in 0..<bytes.count {
            #expect(Array(bytes[..<n]).withUnsafeBytes { AuditRecord(decoding: $0) } == nil, "prefix of \(n) bytes")
        }
        #expect((bytes + [0]).withUnsafeBytes { AuditRecord(decoding: $0) } == nil)
        // An op length pointing past the end.
        var long = bytes
        long[16] = 200
        #expect(long.withUnsafeBytes { AuditRecord(decoding: $0) } == nil)
        // Random bytes: decoded exactly when the two length fields account for every byte, and
        // then the fixed fields are the bytes' own. (Small lengths, so that some decode.)
        var rng = SystemRandomNumberGenerator()
        var decoded = 0
        for _ in 0..<4_000 {
            var junk = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if junk.count > 16 { junk[16] = UInt8.random(in: 0...12, using: &rng) }
            let opLen = junk.count > 16 ? Int(junk[16]) : 0
            if junk.count > 18 + opLen { junk[18 + opLen] = 0; junk[17 + opLen] = UInt8.random(in: 0...12, using: &rng) }
            let consistent = junk.count >= 19 + opLen && junk.count == 19 + opLen + Int(junk[17 + opLen])
            let r = junk.withUnsafeBytes { AuditRecord(decoding: $0) }
            #expect((r != nil) == consistent, "\(junk)")
            if let r {
                decoded += 1
                #expect(r.uid == UInt32(junk[8]) | UInt32(junk[9]) << 8 | UInt32(junk[10]) << 16 | UInt32(junk[11]) << 24)
            }
        }
        #expect(decoded > 0)
    }

    @Test("the store keeps audit records in commit order and filters by time")
    func storedInOrder() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.path)
        let a = AuditRecord(at: 10, uid: 1, pid: 2, op: "patient", id: "p-1")
        let b = AuditRecord(at: 20, uid: 1, pid: 3, op: "handoff", id: "anon-1")
        let c = AuditRecord(at: 15, uid: 2, pid: 4, op: "patient", id: "p-2")
        let first = log.appendGroup([[storeEvent("e1")]], audit: [a.encoded, b.encoded])
        #expect((try? first[0].get()) == [.appended(1)])
        _ = log.appendGroup([], audit: [c.encoded])
        #expect(try log.auditRecords() == [a, b, c])
        #expect(try log.auditRecords(since: 15) == [b, c])
        #expect(try log.auditEntries().map(\.0) == [1, 2, 3])
    }
}
