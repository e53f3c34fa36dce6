import Glibc
import JourneyProtocol
import Testing

/// The lock record's reading side: what the store writes (`StoreLockTests` checks the writer),
/// read without the store.
@Suite struct StoreHolderTests {
    @Test func readsTheRecordTheWriterWrites() throws {
        let line = #"{"pid":4242,"program":"journeyd serve","socket":"/run/j.sock","started":"2026-01-01T00:00:00.000Z","started_ms":1767225600000}"#
        let holder = try #require(StoreHolder(decoding: Array(line.utf8) + [10]))
        #expect(holder == StoreHolder(pid: 4242, program: "journeyd serve", socket: "/run/j.sock", startedAt: 1_767_225_600_000))
        #expect(holder.description == "process 4242 (journeyd serve on /run/j.sock, since 2026-01-01T00:00:00.000Z)")
        #expect(StoreHolder(decoding: []) == nil)
        #expect(StoreHolder(decoding: Array(line.utf8.prefix(20))) == nil)
        #expect(StoreHolder(decoding: Array(#"{"pid":0,"program":"x","started_ms":1}"#.utf8)) == nil)
    }

    @Test func readsTheLockFileOfADirectory() throws {
        var template = Array("/tmp/jp-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        try #require(made)
        let dir = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { rmdir(dir) }
        #expect(StoreHolder.read(directory: dir) == nil)
        let path = dir + "/" + StoreHolder.lockFileName
        let record = Array(#"{"pid":7,"program":"svc","started_ms":1}"#.utf8)
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        try #require(fd >= 0)
        _ = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        #expect(StoreHolder.read(directory: dir) == StoreHolder(pid: 7, program: "svc", startedAt: 1))
    }
}
