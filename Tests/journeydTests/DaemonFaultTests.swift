import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// Store failures injected under a running daemon (through the group committer): a failed append
// is answered with an error, never acknowledged, absent from the log and the projections; after
// a transient failure the next append succeeds; after one that stops writes, the daemon says so
// once (what `journeyd serve` logs before it exits) and refuses appends while reads go on.

private func event(_ id: String, _ subject: String, minute: Int) -> String {
    #"{"id":"\#(id)","type":"call","subject":"\#(subject)","at":"2026-02-01T10:\#(String(format: "%02d", minute)):00Z","direction":"in"}"#
}

private func append(_ events: [String]) -> String {
    #"{"op":"append","events":["# + events.joined(separator: ",") + "]}"
}

/// A daemon on a fresh store, recording what it reports when it cannot go on.
private final class FaultyDaemon {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon
    let client: JourneyConnection
    /// What the daemon reported when it could not go on.
    final class Reports: Sendable {
        let messages = Mutex<[String]>([])
        func withLock<R>(_ body: ([String]) -> R) -> R { messages.withLock { body($0) } }
    }
    let stopMessages = Reports()

    init(directory: TemporaryDirectory? = nil) throws {
        self.directory = try directory ?? TemporaryDirectory()
        engine = try JourneyEngine(directory: self.directory.path)
        let messages = stopMessages
        daemon = Daemon(engine: engine, socketPath: self.directory.socketPath) { message in
            messages.messages.withLock { $0.append(message) }
        }
        try daemon.start(config: ServerConfig())
        client = try JourneyConnection(socketPath: self.directory.socketPath, timeout: .seconds(5))
    }

    var log: EventLog { engine.log }

    func ask(_ line: String) throws -> JSONValue {
        try JSONParser.parse(Array(try client.request(line).utf8))
    }

    func stop() throws {
        client.close()
        try daemon.stop()
    }
}

private func positions(_ v: JSONValue) -> [Int64] {
    (v["positions"]?.arrayValue ?? []).compactMap(\.int64Value)
}

private func code(_ v: JSONValue) -> String? {
    v["ok"]?.boolValue == false ? v["error"]?["code"]?.stringValue : nil
}

/// Checks the store holds exactly `ids` at positions 1…n and verifies clean.
private func expectLog(_ log: EventLog, holds ids: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let stored = try log.events()
    #expect(stored.map(\.1.id) == ids, sourceLocation: sourceLocation)
    #expect(stored.map(\.0) == (0..<ids.count).map { UInt64($0 + 1) }, sourceLocation: sourceLocation)
    #expect(try log.verify().isClean, sourceLocation: sourceLocation)
}

@Suite("journeyd under store faults", .serialized)
struct DaemonFaultTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test("a transient store failure fails the request; the daemon serves the next one", arguments: [
        (LMDBFault(.commit, LMDBError(rawValue: ENOSPC)), "disk_full"),
        (LMDBFault(.put, LMDBError(rawValue: ENOSPC), after: 1), "disk_full"),
        (LMDBFault(.put, .mapFull, after: 1, times: nil), "store_error"),
    ])
    func transient(fault: LMDBFault, expected: String) throws {
        let d = try FaultyDaemon()
        #expect(positions(try d.ask(append([event("e1", "p1", minute: 0)]))) == [1])
        d.log.injectFault(fault)
        let failed = try d.ask(append([event("e2", "p2", minute: 1), event("e3", "p1", minute: 2)]))
        #expect(code(failed) == expected)
        #expect(failed["error"]?["message"]?.stringValue?.contains("nothing of this write was stored") == true)
        // Not in the log, not in the projections.
        try expectLog(d.log, holds: ["e1"])
        #expect(code(try d.ask(#"{"op":"patient","id":"p2"}"#)) == "not_found")
        #expect(try d.ask(#"{"op":"stats"}"#)["projected_position"]?.int64Value == 1)
        // The next append goes through, at the next dense position.
        d.log.clearFaults()
        #expect(positions(try d.ask(append([event("e4", "p3", minute: 3)]))) == [2])
        #expect(try d.ask(#"{"op":"stats"}"#)["projected_position"]?.int64Value == 2)
        try expectLog(d.log, holds: ["e1", "e4"])
        #expect(d.stopMessages.withLock { $0 }.isEmpty)
        try d.stop()
    }

    @Test("an I/O error at commit: appends are refused from then on, the daemon reports it cannot go on")
    func ioErrorStopsWrites() throws {
        let d = try FaultyDaemon()
        #expect(positions(try d.ask(append([event("e1", "p1", minute: 0)]))) == [1])
        d.log.injectFault(LMDBFault(.commit, LMDBError(rawValue: EIO)))
        let failed = try d.ask(append([event("e2", "p2", minute: 1)]))
        #expect(code(failed) == "writes_stopped")
        #expect(failed["error"]?["message"]?.stringValue?.contains("EIO") == true)
        let messages = d.stopMessages.withLock { $0 }
        #expect(messages.count == 1)
        #expect(messages.first?.contains("stopped accepting writes") == true)
        #expect(messages.first?.contains("journeyd is stopping") == true)
        #expect(messages.first?.contains(d.directory.path) == true)
        // The fault is spent, but nothing is acknowledged any more; reads still answer.
        d.log.clearFaults()
        #expect(code(try d.ask(append([event("e3", "p3", minute: 2)]))) == "writes_stopped")
        #expect(try d.ask(#"{"op":"ping"}"#)["ok"]?.boolValue == true)
        #expect(try d.ask(#"{"op":"patient","id":"p1"}"#)["ok"]?.boolValue == true)
        #expect(code(try d.ask(#"{"op":"patient","id":"p2"}"#)) == "not_found")
        #expect(d.stopMessages.withLock { $0.count } == 1)
        try expectLog(d.log, holds: ["e1"])
        // Stopping works although the checkpoint cannot be saved.
        try d.stop()
        #expect(access(d.directory.socketPath, F_OK) != 0)
    }

    @Test("MDB_READERS_FULL fails reads of the log with an error; the daemon keeps serving")
    func readersFull() throws {
        let d = try FaultyDaemon()
        #expect(positions(try d.ask(append([event("e1", "p1", minute: 0)]))) == [1])
        d.log.injectFault(LMDBFault(.beginRead, .readersFull, times: nil))
        let stats = try d.ask(#"{"op":"stats"}"#)
        #expect(code(stats) == "store_error")
        #expect(stats["error"]?["message"]?.stringValue?.contains("MDB_READERS_FULL") == true)
        // A subscription that cannot read the log is told so and closed.
        let subscriber = try JourneyConnection(socketPath: d.directory.socketPath, timeout: .seconds(5))
        #expect(try subscriber.request(#"{"op":"subscribe","from":1}"#) == #"{"ok":true,"subscribed":1}"#)
        let refusal = try JSONParser.parse(Array(try subscriber.receive().utf8))
        #expect(code(refusal) == "store_error")
        #expect(throws: ClientError.self) { _ = try subscriber.receive() }
        // Appends need no reader slot; projections answer from memory.
        #expect(positions(try d.ask(append([event("e2", "p2", minute: 1)]))) == [2])
        #expect(try d.ask(#"{"op":"patient","id":"p2"}"#)["ok"]?.boolValue == true)
        d.log.clearFaults()
        #expect(try d.ask(#"{"op":"stats"}"#)["events"]?.int64Value == 2)
        try expectLog(d.log, holds: ["e1", "e2"])
        try d.stop()
    }
}

/// A 3 MiB tmpfs on a fresh directory with a 1.5 MiB filler file in it, or nil (the reason
/// printed) when this process may not mount one. Unmounted when released.
private final class FullableDirectory {
    let directory: TemporaryDirectory
    let filler: String

    init?() throws {
        directory = try TemporaryDirectory()
        guard geteuid() == 0 else {
            print("DaemonFaultTests: disk-full test skipped: mounting a tmpfs needs root")
            return nil
        }
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=3m,mode=0700") == 0 else {
            print("DaemonFaultTests: disk-full test skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return nil
        }
        filler = directory.path + "/filler"
        let fd = open(filler, O_CREAT | O_WRONLY, 0o600)
        let chunk = [UInt8](repeating: 0x5A, count: 3 << 19)
        let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        if written != chunk.count { print("DaemonFaultTests: filler short: \(written)") }
    }

    deinit {
        umount2(directory.path, 2 /* MNT_DETACH */)
    }
}

@Suite("journeyd on a full filesystem")
struct DaemonDiskFullTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test("appends answer disk_full, acknowledged ones stay, the daemon serves on and appends once space is freed")
    func diskFull() throws {
        guard let fs = try FullableDirectory() else { return }
        let d = try FaultyDaemon(directory: fs.directory)
        // About 750 bytes an event (concern and message near their limits of 500 and 256).
        let concern = String(repeating: "a long concern about a tooth. ", count: 16)
        let note = String(repeating: "a long note about the chat. ", count: 8)
        var acknowledged: [String] = []
        var refusal: JSONValue?
        var refused = ""
        for b in 0..<400 {
            let ids = (0..<50).map { "e\(b)-\($0)" }
            let request = append(ids.enumerated().map { i, id in
                #"{"id":"\#(id)","type":"chat","subject":"p\#(i % 40)","at":1770000000000,"concern":"\#(concern)","message":"\#(note)\#(id)"}"#
            })
            let answer = try d.ask(request)
            guard answer["ok"]?.boolValue == true else {
                refusal = answer
                refused = request
                break
            }
            #expect(positions(answer) == (1...50).map { Int64(acknowledged.count + $0) })
            acknowledged += ids
        }
        let failed = try #require(refusal, "3 MiB never filled up")
        #expect(code(failed) == "disk_full")
        #expect(failed["error"]?["message"]?.stringValue?.contains("is full") == true)
        #expect(acknowledged.count >= 500)
        try expectLog(d.log, holds: acknowledged)
        #expect(try d.ask(#"{"op":"stats"}"#)["projected_position"]?.int64Value == Int64(acknowledged.count))
        // The daemon serves on; with room again the refused request goes through.
        #expect(try d.ask(#"{"op":"ping"}"#)["ok"]?.boolValue == true)
        #expect(unlink(fs.filler) == 0)
        #expect(positions(try d.ask(refused)) == (1...50).map { Int64(acknowledged.count + $0) })
        #expect(d.stopMessages.withLock { $0 }.isEmpty)
        try d.stop()
        withExtendedLifetime(fs) {}
    }
}
