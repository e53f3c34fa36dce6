import Foundation
import Glibc
import JourneyCore
import JourneyProtocol
@testable import JourneyStore
import Synchronization
import Testing

// One writer per store (SPEC §4), within one process: the writer lock and its record, and the
// read-only open. Across processes (a daemon beside an embedded engine, the CLI, kill -9):
// Tests/journeydTests/StoreLockProcessTests.swift.

@Suite("Store writer lock")
struct StoreLockTests {
    private func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o777
    }

    @Test("a writer records itself in DIR/writer.lock (0600) and empties the record when it closes")
    func recordWhileOpen() throws {
        let dir = StoreTestDirectory()
        let store = dir.sub("store")
        do {
            let log = try EventLog(directory: store)
            let holder = try #require(EventLog.writer(of: store))
            #expect(holder.pid == getpid())
            #expect(holder.socket == nil)
            #expect(abs(holder.startedAt - Clock.nowMs()) < 60_000)
            #expect(!holder.program.isEmpty)
            try log.announce(socket: "/run/x.sock")
            #expect(EventLog.writer(of: store)?.socket == "/run/x.sock")
            try log.announce(socket: nil)
            #expect(EventLog.writer(of: store)?.socket == nil)
            #expect(mode(store) == 0o700)
            for file in ["writer.lock", "data.mdb", "lock.mdb"] {
                #expect(mode(store + "/" + file) == 0o600, "\(file)")
            }
        }
        #expect(EventLog.writer(of: store) == nil)
        #expect(try String(contentsOfFile: store + "/writer.lock", encoding: .utf8).isEmpty)
    }

    @Test("a relative socket path is recorded absolute")
    func relativeSocket() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.sub("store"))
        try log.announce(socket: "j.sock")
        let recorded = try #require(EventLog.writer(of: dir.sub("store"))?.socket)
        #expect(recorded.hasPrefix("/") && recorded.hasSuffix("/j.sock"))
    }

    @Test("a second lock on a held store is refused in the same process too, naming this process")
    func secondLockInProcess() throws {
        let dir = StoreTestDirectory()
        let first = try StoreLock(directory: dir.path, program: "first")
        let error = #expect(throws: StoreError.self) { try StoreLock(directory: dir.path, program: "second") }
        #expect(error?.code == .alreadyOpen)
        #expect(error?.context.holder?.pid == getpid())
        #expect(error?.context.holder?.program == "first")
        _ = first
    }

    @Test("the refusal of a second writer names the holder's pid, program and socket, and what to do")
    func busyMessage() {
        let serving = StoreHolder(pid: 4242, program: "journeyd serve", socket: "/x.sock", startedAt: 0)
        let e = StoreLock.busy("/data/d", serving)
        #expect(e.code == .storeBusy)
        #expect(e.code.description == "store_busy")
        #expect(e.context.holder == serving)
        #expect(e.message.contains("process 4242 (journeyd serve on /x.sock"))
        #expect(e.message.contains("send writes through its socket"))
        let importing = StoreHolder(pid: 4243, program: "journeyd import", startedAt: 0)
        let i = StoreLock.busy("/data/d", importing)
        #expect(i.message.contains("process 4243 (journeyd import"))
        #expect(i.message.contains("read-only"))
        #expect(StoreLock.busy("/data/d", nil).code == .storeBusy)
    }

    @Test("a record is read back whole, and a partial or foreign one is none")
    func recordCodec() {
        let h = StoreHolder(pid: 7, program: "svc \"q\"", socket: "/a b/\n.sock", startedAt: 1_767_225_600_000)
        #expect(StoreHolder(decoding: h.encoded) == h)
        #expect(StoreHolder(decoding: Array(h.encoded.prefix(10))) == nil)
        #expect(StoreHolder(decoding: []) == nil)
        #expect(StoreHolder(decoding: Array(#"{"pid":0,"program":"x","started_ms":1}"#.utf8)) == nil)
    }

    @Test("a read-only store answers, takes no lock, and refuses every write")
    func readOnly() throws {
        let dir = StoreTestDirectory()
        let store = dir.sub("store")
        do {
            let engine = try JourneyEngine(directory: store)
            _ = try engine.append([storeEvent("a", "p1"), storeEvent("b", "p1", at: 1_700_000_060_000)])
            try engine.checkpoint()
            _ = try engine.append([storeEvent("c", "p2")])
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb"))
        let engine = try JourneyEngine(directory: store, access: .readOnly)
        #expect(engine.log.access == .readOnly)
        #expect(EventLog.writer(of: store) == nil)
        #expect(engine.projectionStats.position == 3)
        #expect(try engine.patient(id: "p1", as: "test")?.counts.reduce(0, +) == 2)
        #expect(try engine.log.events().map(\.1.id) == ["a", "b", "c"])

        let append = #expect(throws: StoreError.self) { try engine.append([storeEvent("d")]) }
        #expect(append?.code == .readOnly)
        #expect(append?.code.description == "read_only")
        #expect((#expect(throws: StoreError.self) { try engine.checkpoint() })?.code == .readOnly)
        #expect((#expect(throws: StoreError.self) { try engine.log.announce(socket: "/x") })?.code == .readOnly)
        let submitted = Mutex<[Result<[EventLog.AppendOutcome], StoreError>]>([])
        engine.writes.submit([storeEvent("e")]) { r in submitted.withLock { $0.append(r) } }
        engine.writes.drain()
        #expect(submitted.withLock { $0 }.allSatisfy {
            if case .failure(let e) = $0 { e.code == .readOnly } else { false }
        })
        #expect(engine.log.appendGroup([[storeEvent("e")]]).allSatisfy {
            if case .failure(let e) = $0 { e.code == .readOnly } else { false }
        })
        try engine.log.sync()
        #expect(engine.log.writeFailure == nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")) == before)
    }

    @Test("a missing store cannot be opened read-only, and is not created")
    func readOnlyMissing() {
        let dir = StoreTestDirectory()
        for path in [dir.sub("none"), dir.path] {
            let error = #expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) }
            #expect(error?.code == .notFound, "\(path)")
        }
        #expect(access(dir.sub("none"), F_OK) != 0)
        #expect(access(dir.sub("writer.lock"), F_OK) != 0)
    }
}
