import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Testing
@testable import journeyd

// One writer per store (SPEC §4) across processes, with the built `journeyd`: a second daemon,
// an embedded engine beside a daemon, the command line finding a daemon on any socket, a CLI
// write beside a writer that serves no socket, and the lock outliving no holder (kill -9).

@Suite(.serialized)
struct StoreLockProcessTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// A `journeyd serve` child on `socket` (not the default), once it serves.
    private func serve(_ dir: TemporaryDirectory, socket: String) throws -> ServeProcess {
        let daemon = try ServeProcess(directory: dir.path, socket: socket)
        #expect(daemon.waitUntilServing())
        return daemon
    }

    /// `journey` as an NDJSON file in `dir`.
    private func journeyFile(_ dir: TemporaryDirectory) throws -> String {
        let file = dir.path + "/events.ndjson"
        try (journey.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o777
    }

    @Test(binaryNeeded) func aSecondServeOnAnotherSocketIsRefusedNamingTheHolder() throws {
        let dir = try TemporaryDirectory()
        let first = try serve(dir, socket: dir.path + "/a.sock")
        let pid = first.process.processIdentifier

        let second = try run(["serve", "--data", dir.path, "--socket", dir.path + "/b.sock"], timeout: .seconds(10))
        #expect(second.status == Exit.store)
        #expect(second.stderr.contains("store_busy"), "stderr: \(second.stderr)")
        #expect(second.stderr.contains("process \(pid) (journeyd serve on \(dir.path)/a.sock"), "stderr: \(second.stderr)")
        #expect(second.stderr.contains("send writes through its socket"))
        // It refused before binding anything, and touched nothing of the first.
        #expect(access(dir.path + "/b.sock", F_OK) != 0)
        #expect(access(dir.path + "/b.sock.lock", F_OK) != 0)
        #expect(EventLog.writer(of: dir.path)?.pid == pid)
        #expect(EventLog.writer(of: dir.path)?.socket == first.socketPath)
        let c = try JourneyConnection(socketPath: first.socketPath, timeout: .seconds(5))
        #expect(try c.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)
        c.close()

        // Stopped cleanly, it leaves the record empty and the store free.
        #expect(first.terminate(SIGTERM) == 0)
        #expect(EventLog.writer(of: dir.path) == nil)
        #expect(access(first.socketPath, F_OK) != 0)
        let again = try serve(dir, socket: dir.path + "/b.sock")
        #expect(EventLog.writer(of: dir.path)?.pid == again.process.processIdentifier)
        #expect(again.terminate(SIGTERM) == 0)
    }

    @Test(binaryNeeded) func theFilesOfAServedStoreAreOwnerOnly() throws {
        let dir = try TemporaryDirectory()
        let store = dir.path + "/store"
        let daemon = try ServeProcess(directory: store, socket: dir.path + "/s.sock")
        #expect(daemon.waitUntilServing())
        #expect(mode(store) == 0o700)
        for file in [store + "/writer.lock", store + "/data.mdb", store + "/lock.mdb", daemon.socketPath] {
            #expect(mode(file) == 0o600, "\(file)")
        }
        #expect(daemon.terminate(SIGTERM) == 0)
    }

    @Test(binaryNeeded) func anEmbeddedWriterBesideADaemonIsRefusedAndAReaderIsNot() throws {
        let dir = try TemporaryDirectory()
        let daemon = try serve(dir, socket: dir.path + "/d.sock")
        let pid = daemon.process.processIdentifier
        let c = try JourneyConnection(socketPath: daemon.socketPath, timeout: .seconds(5))
        defer { c.close() }
        #expect(try parse(try c.request(appendRequest(journey)))["ok"]?.boolValue == true)

        let engineError = #expect(throws: StoreError.self) { try JourneyEngine(directory: dir.path) }
        #expect(engineError?.code == .storeBusy)
        #expect(engineError?.context.holder?.pid == pid)
        #expect(engineError?.context.holder?.socket == daemon.socketPath)
        #expect(engineError?.context.holder?.program == "journeyd serve")
        #expect(engineError?.message.contains("process \(pid) ") == true, "\(String(describing: engineError))")
        #expect(engineError.map { Ops.storeError($0).code } == "store_busy")
        let logError = #expect(throws: StoreError.self) { try EventLog(directory: dir.path, durability: .relaxed) }
        #expect(logError?.code == .storeBusy)

        // A reader opens beside it and answers as the daemon does.
        let reader = try JourneyEngine(directory: dir.path, access: .readOnly)
        #expect(reader.projectionStats.position == 9)
        for request in [#"{"op":"patient","id":"anon1","as_of":"2026-02-01T00:00:00Z"}"#,
                        #"{"op":"handoff","id":"p2","as_of":"2026-02-01T00:00:00Z"}"#,
                        #"{"op":"contacts"}"#] {
            let local = String(decoding: try Ops(engine: reader, reader: "test").answer(try Request.decode(Array(request.utf8))), as: UTF8.self)
            #expect(local == (try c.request(request)), "\(request)")
        }
        // Its log reads see what the daemon appends after it opened.
        let more = #"{"id":"e10","type":"web_visit","subject":"anon9","at":"2026-01-07T00:00:00Z"}"#
        #expect(try parse(try c.request(appendRequest([more])))["positions"].map(ints) == [10])
        #expect(reader.log.lastPosition == 10)
        #expect(try reader.log.events(from: 10).map(\.1.id) == ["e10"])
        #expect(daemon.terminate(SIGTERM) == 0)
    }

    @Test(binaryNeeded) func anImportFindsTheDaemonOnItsSocketAndItsAnswersMatchAFreshFold() throws {
        let dir = try TemporaryDirectory()
        let elsewhere = try TemporaryDirectory()
        let daemon = try serve(dir, socket: elsewhere.path + "/journey.sock")
        let file = try journeyFile(dir)

        // The daemon holds the store's lock: the import succeeds only through its socket.
        let imported = try run(["import", file, "--data", dir.path])
        #expect(imported.status == 0, "import: \(imported.stderr)")
        #expect(imported.stdout.contains("appended 9, duplicate 0, rejected 0"), "\(imported.stdout)")
        let c = try JourneyConnection(socketPath: daemon.socketPath, timeout: .seconds(5))
        defer { c.close() }
        let stats = try parse(try c.request(#"{"op":"stats"}"#))
        #expect(stats["events"]?.int64Value == 9)
        #expect(stats["last_position"]?.int64Value == 9)
        #expect(stats["projected_position"]?.int64Value == 9)

        // A fresh fold of the log, read beside the daemon.
        let log = try EventLog(directory: dir.path, access: .readOnly)
        var folded = Projector()
        try log.scan { _, view in
            folded.apply(try view.event())
            return true
        }
        #expect(folded.eventCount == 9)
        #expect(stats["clusters"]?.int64Value == Int64(folded.clusterCount))
        let asOf: Int64 = 1_769_904_000_000  // 2026-02-01T00:00:00Z
        for id in ["anon1", "p1", "p2", "p3"] {
            let expected = try #require(folded.patient(id: id, asOf: asOf))
            let answer = try c.requestBytes(Array(#"{"op":"patient","id":"\#(id)","as_of":\#(asOf)}"#.utf8))
            #expect(answer == PatientAnswer(expected).line, "\(id)")
        }

        // The command line's answers through the daemon equal those from the store once it stopped.
        let commands: [[String]] = [
            ["patient", "anon1", "--json", "--as-of", "2026-02-01T00:00:00Z"],
            ["at-risk", "--json", "--as-of", "2026-02-01T00:00:00Z"],
            ["contacts", "--json"],
        ]
        let viaDaemon = try commands.map { try run($0 + ["--data", dir.path]) }
        #expect(daemon.terminate(SIGTERM) == 0)
        let direct = try commands.map { try run($0 + ["--data", dir.path]) }
        for (i, command) in commands.enumerated() {
            #expect(viaDaemon[i].status == 0 && direct[i].status == 0, "\(command)")
            #expect(viaDaemon[i].stdout == direct[i].stdout, "\(command)")
        }
    }

    @Test(binaryNeeded) func aCLIWriteIsRefusedWhileAProcessWritesTheStoreWithoutServingIt() throws {
        let dir = try TemporaryDirectory()
        let file = try journeyFile(dir)
        // This process writes the store and serves no socket.
        let holder = try EventLog(directory: dir.path)
        _ = try holder.append([Event(id: "e0", type: .webVisit, subject: "v0", at: 1_767_225_600_000)])

        for command in [["import", file], ["replay"]] {
            let refused = try run(command + ["--data", dir.path])
            #expect(refused.status == Exit.store, "\(command)")
            #expect(refused.stderr.contains("store_busy: the store in \(dir.path) is already being written by process \(getpid()) ("),
                    "\(command): \(refused.stderr)")
            #expect(refused.stderr.contains("wait for it to finish or stop it first"))
        }
        #expect(holder.count == 1)

        // Reading commands are not blocked.
        let stats = try run(["stats", "--json", "--data", dir.path])
        #expect(stats.status == 0, "stats: \(stats.stderr)")
        #expect(stats.stdout.contains(#""events":1"#), "\(stats.stdout)")
        let exported = try run(["export", "--data", dir.path])
        #expect(exported.status == 0)
        #expect(exported.stdout.contains(#""id":"e0""#))
        let verify = try run(["verify", "--data", dir.path])
        #expect(verify.status == 0, "verify: \(verify.stdout) \(verify.stderr)")
    }

    @Test(binaryNeeded) func theLockIsReleasedWhenItsHolderIsKilled() throws {
        let dir = try TemporaryDirectory()
        let daemon = try serve(dir, socket: dir.path + "/k.sock")
        let pid = daemon.process.processIdentifier
        #expect((#expect(throws: StoreError.self) { try EventLog(directory: dir.path) })?.code == .storeBusy)

        daemon.signal(SIGKILL)
        daemon.process.waitUntilExit()
        // Its record and socket file stay behind, but the kernel released the lock.
        #expect(EventLog.writer(of: dir.path)?.pid == pid)
        #expect(access(daemon.socketPath, F_OK) == 0)
        let imported = try run(["import", try journeyFile(dir), "--data", dir.path])
        #expect(imported.status == 0, "import: \(imported.stderr)")
        #expect(imported.stdout.contains("appended 9"))

        let log = try EventLog(directory: dir.path)
        #expect(EventLog.writer(of: dir.path)?.pid == getpid())
        #expect(log.count == 9)
    }

    @Test func theClientFindsADaemonOnAnySocketThroughTheLockRecord() async throws {
        let dir = try TemporaryDirectory()
        let elsewhere = try TemporaryDirectory()
        let engine = try JourneyEngine(directory: dir.path)
        let daemon = Daemon(engine: engine, socketPath: elsewhere.path + "/j.sock")
        try daemon.start(config: ServerConfig())
        #expect(EventLog.writer(of: dir.path)?.socket == elsewhere.path + "/j.sock")
        #expect(Gateway.connect(dir: dir.path)?.socketPath == elsewhere.path + "/j.sock")

        let client = try JourneyClient(dataDirectory: dir.path, timeout: .seconds(10))
        let outcomes = try await client.append([Event(id: "e1", type: .webVisit, subject: "v1", at: 1_767_225_600_000)])
        #expect(outcomes == [.appended(1)])
        client.close()
        try daemon.stop()
        // Stopped, the daemon no longer names a socket; its engine still holds the lock.
        #expect(EventLog.writer(of: dir.path)?.socket == nil)
        #expect(EventLog.writer(of: dir.path)?.pid == getpid())
        #expect(Gateway.connect(dir: dir.path) == nil)
        #expect(engine.log.count == 1)
    }

    @Test(binaryNeeded) func aReaderKeepsReadingWhileAWriterInAnotherProcessGrowsTheMapPastItsOwn() throws {
        let dir = try TemporaryDirectory()
        let store = dir.path + "/store"
        do {
            let log = try EventLog(directory: store)
            _ = try log.append([Event(id: "first", type: .webVisit, subject: "v0", at: 1_767_225_600_000)])
        }
        // The smallest map a reader takes: the writer's growth soon passes it (MDB_MAP_RESIZED).
        let reader = try EventLog(directory: store, mapSize: 64 << 10, access: .readOnly)
        #expect(reader.count == 1)
        let mapBefore = try reader.stats().mapSize
        let n = 3_000
        let lines = (0..<n).map { i in
            #"{"id":"g\#(i)","type":"web_visit","subject":"visitor-\#(i % 97)","at":\#(1_767_225_600_000 + Int64(i)),"source":"a source long enough to take some room \#(i)"}"#
        }
        let file = dir.path + "/grow.ndjson"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try run(["import", file, "--data", store])
        #expect(imported.status == 0, "import: \(imported.stderr)")
        #expect(reader.lastPosition == UInt64(n + 1))
        #expect(reader.count == n + 1)
        #expect(try reader.events(from: UInt64(n + 1)).map(\.1.id) == ["g\(n - 1)"])
        #expect(try reader.positions(subject: "visitor-5").count == n / 97 + 1)
        #expect(reader.writeFailure == nil)
        // It adopted the writer's map size on the way.
        #expect(try reader.stats().mapSize > mapBefore)
    }

    @Test func aStaleRecordNamingAnotherProcessSocketIsNotFollowed() throws {
        // A daemon of another store listens where a dead writer of this one had its socket.
        let other = try RunningDaemon()
        let dir = try TemporaryDirectory()
        let record = #"{"pid":1,"program":"journeyd serve","socket":"\#(other.directory.socketPath)","started_ms":0}"#
        try record.write(toFile: dir.path + "/writer.lock", atomically: false, encoding: .utf8)
        #expect(EventLog.writer(of: dir.path)?.socket == other.directory.socketPath)
        #expect(Gateway.connect(dir: dir.path) == nil)
        // The lock is free: a writer opens and replaces the record.
        let log = try EventLog(directory: dir.path)
        #expect(EventLog.writer(of: dir.path)?.pid == getpid())
        #expect(log.count == 0)
        try other.stop()
    }
}
