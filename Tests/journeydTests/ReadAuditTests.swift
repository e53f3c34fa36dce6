import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Testing
@testable import journeyd

// The read audit on every path: through the socket, the command line without a daemon, and on
// a full disk (nothing served unaudited).

private func auditEntries(_ dir: String) throws -> [AuditEntry] {
    try AuditLog.read(directory: dir).entries.map(\.entry)
}

@Suite("The read audit through journeyd", .serialized)
struct ReadAuditTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test("socket: patient, handoff, at_risk, subscribe, not-found and audit are recorded before the answer")
    func socketOps() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(journey))
        _ = try d.ask(#"{"op":"at_risk","as_of":"2026-01-25T00:00:00Z","as":"outreach","reason":"recall"}"#)
        #expect(try d.ask(#"{"op":"handoff","id":"nobody"}"#).errorCode == "not_found")
        let sub = try d.connect()
        try sub.send(#"{"op":"subscribe","from":1,"as":"sync"}"#)
        #expect(try sub.receive() == #"{"ok":true,"subscribed":1}"#)
        sub.close()
        let answer = try d.ask(#"{"op":"audit","patient":"anon1","as":"auditor"}"#)
        #expect(try d.ask(#"{"op":"patient","id":"p1","as":""}"#).errorCode == "bad_request")
        try d.stop()

        let e = try auditEntries(d.directory.path)
        #expect(e.map(\.op) == ["at_risk", "handoff", "subscribe", "audit"])
        #expect(e.map(\.actor) == ["outreach", nil, "sync", "auditor"])
        // p2 and p3 cancelled 21 and 19 days before and did not rebook: at risk (14 days, SPEC
        // §3.2); p1 is booked.
        #expect(e[0].ids == ["p2", "p3"] && e[0].reason == "recall")
        #expect(e[1].ids == [] && e[1].parameters == #"{"op":"handoff","id":"nobody"}"#)
        #expect(e[2].parameters == #"{"op":"subscribe","from":1}"#)
        #expect(e[3].ids == ["p1"])  // anon1's cluster, by its canonical id
        // Who has seen anon1's cluster: no one before, then this read of the audit, recorded
        // before it was answered.
        #expect(answer["records"]?.arrayValue?.map { $0["op"]?.stringValue } == ["audit"])
    }

    @Test("audit --patient finds the reads of a patient by any of its ids", .enabled(if: journeydBinary != nil))
    func cliWithoutDaemon() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/events.ndjson"
        try journey.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try run(["import", file, "--data", dir.path + "/s"]).status == 0)
        let store = dir.path + "/s"
        #expect(try run(["patient", "anon1", "--data", store, "--as", "dr-lee", "--reason", "visit"]).status == 0)
        #expect(try run(["handoff", "p1", "--data", store]).status == 0)
        #expect(try run(["patient", "nobody", "--data", store]).status == 1)
        #expect(try run(["at-risk", "--as-of", "2026-01-10T00:00:00Z", "--data", store]).status == 0)
        let export = try run(["export", "--data", store, "--as", "backup-job"])
        #expect(export.stdout.split(separator: "\n").count == 9)
        let e = try auditEntries(store)
        #expect(e.map(\.op) == ["patient", "handoff", "patient", "at_risk", "export"])
        #expect(e[0].actor == "dr-lee" && e[0].reason == "visit" && e[0].ids == ["p1"])
        // Without --as: the login name of the user.
        let me = String(cString: getpwuid(getuid())!.pointee.pw_name)
        #expect(e[1].actor == me)
        #expect(e[4].parameters == #"{"from":1,"through":9}"#)
        // Each command is its own process: its pid, not ours.
        #expect(e.allSatisfy { $0.pid != getpid() && $0.uid == getuid() })

        let audit = try run(["audit", "--patient", "anon1", "--json", "--data", store])
        #expect(audit.status == 0)
        let lines = audit.stdout.split(separator: "\n").map { try? parse(String($0)) }
        // The patient read (by anon1), the handoff (by p1, the same cluster), and this read of
        // the audit (recorded before it answered).
        #expect(lines.map { $0?["op"]?.stringValue } == ["patient", "handoff", "audit"])
        #expect(lines.first??["as"]?.stringValue == "dr-lee")
        // Reading the audit was recorded too.
        #expect(try auditEntries(store).last?.op == "audit")
    }

    @Test("a full disk: every read that names a patient is refused with audit_unavailable, counted in stats")
    func fullDisk() throws {
        guard geteuid() == 0 else { print("ReadAuditTests: skipped: mounting a tmpfs needs root"); return }
        let mountPoint = try Syscall.makeTemporaryDirectory("/tmp/jd-auditfull-XXXXXX")
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=2m,mode=0700") == 0 else { return }
        defer {
            umount2(mountPoint, 2)
            rmdir(mountPoint)
        }
        let store = mountPoint + "/store"
        let engine = try JourneyEngine(directory: store)
        let daemon = Daemon(engine: engine, socketPath: store + "/journeyd.sock")
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        let c = try JourneyConnection(socketPath: store + "/journeyd.sock", timeout: .seconds(5))
        defer { c.close() }
        _ = try parse(try c.request(appendRequest(journey)))
        // Fill the filesystem to the last byte.
        let fd = open(mountPoint + "/filler", O_CREAT | O_WRONLY, 0o600)
        let chunk = [UInt8](repeating: 1, count: 64 << 10)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress!, $0.count) }) > 0 {}
        close(fd)
        var served = 0, refused = 0
        for _ in 0..<400 {
            let a = try parse(try c.request(#"{"op":"handoff","id":"p1"}"#))
            if a["ok"]?.boolValue == true { served += 1 } else {
                #expect(a.errorCode == "audit_unavailable")
                refused += 1
            }
        }
        let stats = try parse(try c.request(#"{"op":"stats"}"#))
        #expect(stats["audit_failures"]?.int64Value == Int64(refused))
        #expect(stats["last_audit_failure"]?.stringValue?.contains("No space left on device") == true)
        // The audit file was still empty when the disk filled (no page of it allocated): not one
        // answer was given, and none is in the file.
        #expect(served == 0 && refused == 400)
        #expect(try auditEntries(store).count == 0)
        unlink(mountPoint + "/filler")
        #expect(try parse(try c.request(#"{"op":"handoff","id":"p1"}"#))["ok"]?.boolValue == true)
        #expect(try auditEntries(store).count == served + 1)
    }
}
