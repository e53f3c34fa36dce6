import Glibc
import JourneyCore
import Testing
@testable import JourneyStore

@Suite("The read audit")
struct AuditLogTests {
    let sample = AuditEntry(at: 1_767_261_600_000, uid: 1000, pid: 4242, actor: "dr-lee", op: "handoff",
                            parameters: #"{"id":"p-1"}"#, ids: ["p-1"], reason: nil)

    @Test("CRC-32 is zlib's (check value of \"123456789\")")
    func crc() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test("a record's payload is the documented layout and reads back")
    func layout() {
        let b = sample.encoded
        // 8 + 4 + 4 + 4, then op (4 + 7), actor (4 + 6), reason absent (4), parameters (4 + 12),
        // id count (4), one id (4 + 3).
        #expect(b.count == 20 + 11 + 10 + 4 + 16 + 4 + 7)
        #expect(Array(b[16..<20]) == [1, 0, 0, 0])  // count
        #expect(Array(b[41..<45]) == [0xFF, 0xFF, 0xFF, 0xFF])  // reason absent
        #expect(b.withUnsafeBytes { AuditEntry(decoding: $0) } == sample)
        // Every prefix and an extra byte are refused.
        for n in 0..<b.count { #expect(Array(b[..<n]).withUnsafeBytes { AuditEntry(decoding: $0) } == nil) }
        #expect((b + [0]).withUnsafeBytes { AuditEntry(decoding: $0) } == nil)
    }

    @Test("lists over 100 are recorded by their count only; 100 keep their ids")
    func longLists() {
        let hundred = (0..<100).map { "p\($0)" }
        let e100 = AuditEntry(at: 0, uid: 0, pid: 0, actor: "a", op: "at_risk", parameters: "{}", ids: hundred, reason: nil)
        #expect(e100.ids == hundred && e100.count == 100)
        let e101 = AuditEntry(at: 0, uid: 0, pid: 0, actor: "a", op: "at_risk", parameters: "{}", ids: hundred + ["x"], reason: nil)
        #expect(e101.ids.isEmpty && e101.count == 101)
        #expect(e101.encoded.withUnsafeBytes { AuditEntry(decoding: $0) } == e101)
    }

    @Test("records are appended with 0600 and read back in order; a damaged frame is skipped, the rest read")
    func fileRoundTrip() throws {
        let dir = StoreTestDirectory()
        let log = AuditLog(directory: dir.path)
        let second = AuditEntry(at: 2, uid: 1, pid: 2, actor: nil, op: "patient", parameters: "{}", ids: [], reason: "why")
        try log.record(sample)
        try log.record(second)
        try log.record(sample)
        var st = stat()
        #expect(stat(log.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let read = try AuditLog.read(directory: dir.path)
        #expect(read.entries.map(\.entry) == [sample, second, sample])
        #expect(read.skipped == 0)
        let frame = AuditLog.frame(sample.encoded).count
        #expect(read.entries.map(\.offset) == [0, frame, frame + AuditLog.frame(second.encoded).count])
        // From the second record's offset: the cursor of `audit`.
        #expect(try AuditLog.read(directory: dir.path, from: frame).entries.map(\.entry) == [second, sample])

        // Flip one payload byte of the middle record: its checksum fails, it is skipped.
        let fd = open(log.path, O_RDWR)
        var byte: UInt8 = 0
        _ = pread(fd, &byte, 1, off_t(frame + 12 + 3))
        byte ^= 0x10
        _ = pwrite(fd, &byte, 1, off_t(frame + 12 + 3))
        close(fd)
        let damaged = try AuditLog.read(directory: dir.path)
        #expect(damaged.entries.map(\.entry) == [sample, sample])
        #expect(damaged.skipped == AuditLog.frame(second.encoded).count)
        #expect(log.counts.written == 3 && log.counts.failed == 0)
    }

    @Test("a torn tail (a write cut short) is skipped and later records still read")
    func tornTail() throws {
        let dir = StoreTestDirectory()
        let whole = AuditLog.frame(sample.encoded)
        let torn = Array(whole.prefix(whole.count - 5))
        let fd = open(dir.path + "/audit.log", O_CREAT | O_WRONLY, 0o600)
        let bytes = whole + torn + whole
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        let read = try AuditLog.read(directory: dir.path)
        #expect(read.entries.map(\.entry) == [sample, sample])
        #expect(read.skipped == torn.count)
    }

    @Test("many threads recording at once: every record durable and whole")
    func concurrent() async throws {
        let dir = StoreTestDirectory()
        let log = AuditLog(directory: dir.path)
        try await withThrowingTaskGroup(of: Void.self) { g in
            for t in 0..<8 {
                g.addTask {
                    for i in 0..<50 {
                        try log.record(AuditEntry(at: Int64(i), uid: 0, pid: Int32(t), actor: "t\(t)", op: "patient",
                                                  parameters: "{}", ids: ["p\(i)"], reason: nil))
                    }
                }
            }
            try await g.waitForAll()
        }
        let read = try AuditLog.read(directory: dir.path)
        #expect(read.entries.count == 400 && read.skipped == 0)
        for t in 0..<8 {
            #expect(read.entries.filter { $0.entry.pid == Int32(t) }.map(\.entry.ids) == (0..<50).map { ["p\($0)"] })
        }
    }

    @Test("the embedded API records every read that names patients, with its actor and reason")
    func embedded() throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.path)
        _ = try engine.append([storeEvent("e1", "p-1", type: .booking), storeEvent("e2", "p-2", type: .booking)])
        #expect(try engine.patient(id: "p-1", as: "front-desk")?.patient == "p-1")
        #expect(try engine.handoff(id: "nobody", as: AuditContext(actor: "nurse", reason: "callback")) == nil)
        _ = try engine.atRisk(asOf: 0, limit: 5, as: "outreach")
        _ = try engine.funnel(FunnelQuery())  // an aggregate: not recorded
        let e = try AuditLog.read(directory: dir.path).entries.map(\.entry)
        #expect(e.map(\.op) == ["patient", "handoff", "at_risk"])
        #expect(e.map(\.actor) == ["front-desk", "nurse", "outreach"])
        #expect(e.map(\.reason) == [nil, "callback", nil])
        #expect(e.map(\.ids) == [["p-1"], [], []])
        #expect(e.map(\.parameters) == [#"{"id":"p-1"}"#, #"{"id":"nobody"}"#, #"{"as_of":0,"limit":5}"#])
        #expect(e.allSatisfy { $0.uid == getuid() && $0.pid == getpid() })
    }

    @Test("on a full disk the embedded API refuses reads with AuditUnavailable and serves nothing unaudited")
    func fullDisk() throws {
        guard let fs = SmallFilesystem(megabytes: 2) else { return }
        let store = fs.path + "/store"
        let engine = try JourneyEngine(directory: store)
        _ = try engine.append([storeEvent("e1", "p-1", type: .booking)])
        #expect(try engine.patient(id: "p-1", as: "a") != nil)
        // Fill every byte left (the filler's last write fails with ENOSPC).
        _ = fs.fill("filler", bytes: 4 << 20)
        var served = 1
        var refused = 0
        for _ in 0..<300 {
            do {
                _ = try engine.handoff(id: "p-1", as: "a")
                served += 1
            } catch let e as AuditUnavailable {
                refused += 1
                #expect(e.message.contains("No space left on device"))
            }
        }
        // Records still fit in the file's last page (tmpfs allocates 4096 bytes at a time; a
        // handoff record is 79 bytes, and the first record took 79): at most 51 more; after
        // that every read is refused.
        #expect(AuditLog.frame(AuditEntry(at: 0, uid: 0, pid: 0, actor: "a", op: "handoff", parameters: #"{"id":"p-1"}"#,
                                          ids: ["p-1"], reason: nil).encoded).count == 79)
        #expect(served <= 52)
        #expect(refused == 300 - (served - 1))
        #expect(engine.audit.counts.failed == refused)
        #expect(try AuditLog.read(directory: store).entries.count == served)
        // Room again: reads are served and recorded.
        unlink(fs.path + "/filler")
        #expect(try engine.patient(id: "p-1", as: "a") != nil)
        #expect(try AuditLog.read(directory: store).entries.count == served + 1)
        withExtendedLifetime(fs) {}
    }
}
