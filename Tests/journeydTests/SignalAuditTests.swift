import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Testing
@testable import journeyd

// The read audit of signals: each batch shown to a consumer is recorded, durably and before it
// is shown, with the patients it names (or their count past 100), on every path: the socket's
// stream, the embedded stream, the command line. When the record cannot be written, no signal
// is shown (`audit_unavailable`).

private let day: Int64 = 86_400_000
private let t0: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

/// A cancellation of `subject` at `t0`: at the clock of these tests (30 days on) it has been
/// `cancelled_not_rebooked` for 16 days.
private func cancellation(_ subject: String) -> Event {
    Event(id: "c-\(subject)", type: .cancellation, subject: subject, at: t0)
}

private func signalEntries(_ dir: String) throws -> [AuditEntry] {
    try AuditLog.read(directory: dir).entries.map(\.entry).filter { $0.op == "signals" }
}

/// An engine evaluating at `t0 + 30 days`, with the signals of `subjects`' cancellations
/// stored. `brokenAudit` puts a directory where the audit file goes: every record then fails.
private func engine(_ dir: String, subjects: [String], brokenAudit: Bool = false) throws -> JourneyEngine {
    if brokenAudit { mkdir(dir + "/" + AuditLog.fileName, 0o700) }
    let e = try JourneyEngine(directory: dir, durability: .relaxed, clock: ManualClock(t0 + 30 * day))
    if !subjects.isEmpty { _ = try e.append(subjects.map(cancellation)) }
    e.settleSignals()
    return e
}

@Suite("The read audit of signals", .serialized)
struct SignalAuditTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test func socketBatchesAreRecordedWithTheirPatientsBeforeTheyAreSent() throws {
        let dir = try TemporaryDirectory()
        let e = try engine(dir.path, subjects: ["a", "b", "c"])
        let daemon = Daemon(engine: e, socketPath: dir.socketPath)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        let stream = try JourneyConnection(socketPath: dir.socketPath, timeout: .seconds(5))
        defer { stream.close() }
        // Opening the stream names no patient: nothing is recorded for it.
        #expect(try stream.request(#"{"op":"signals","consumer":"outreach","as":"outreach-svc","reason":"recall"}"#)
                == #"{"ok":true,"consumer":"outreach","after":0}"#)
        let first = try (0..<3).map { _ in try parse(try stream.receive())["patient"]?.stringValue }
        #expect(first == ["a", "b", "c"])
        var entries = try signalEntries(dir.path)
        #expect(entries.count == 1)
        #expect(entries.first?.ids == ["a", "b", "c"] && entries.first?.count == 3)
        #expect(entries.first?.parameters == #"{"consumer":"outreach","first_seq":1,"last_seq":3}"#)
        #expect(entries.first?.actor == "outreach-svc" && entries.first?.reason == "recall")
        #expect(entries.first?.pid == getpid() && entries.first?.uid == getuid())

        // A live signal is its own batch, recorded before the client has it.
        _ = try e.append([cancellation("d")])
        #expect(try parse(try stream.receive())["seq"]?.int64Value == 4)
        entries = try signalEntries(dir.path)
        #expect(entries.count == 2)
        #expect(entries.last?.ids == ["d"])
        #expect(entries.last?.parameters == #"{"consumer":"outreach","first_seq":4,"last_seq":4}"#)
        // `audit --patient` finds the consumer that was shown d.
        let c = try JourneyConnection(socketPath: dir.socketPath, timeout: .seconds(5))
        defer { c.close() }
        let records = try parse(try c.request(#"{"op":"audit","patient":"d"}"#))["records"]?.arrayValue ?? []
        #expect(records.map { $0["op"]?.stringValue } == ["signals", "audit"])
    }

    @Test func theClientLibrarysStreamIsRecordedWithItsRequester() async throws {
        let dir = try TemporaryDirectory()
        let e = try engine(dir.path, subjects: ["a", "b"])
        let daemon = Daemon(engine: e, socketPath: dir.socketPath)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        let client = try JourneyClient(socketPath: dir.socketPath)
        var seen: [String] = []
        for try await s in client.signals(consumer: "outreach", as: Requester(actor: "crm-sync", reason: "recall")) {
            seen.append(s.patient)
            if seen.count == 2 { break }
        }
        #expect(seen == ["a", "b"])
        let entries = try signalEntries(dir.path)
        #expect(entries.flatMap(\.ids) == ["a", "b"])
        #expect(entries.allSatisfy { $0.actor == "crm-sync" && $0.reason == "recall" })
    }

    @Test func aBatchOfMoreThan100PatientsIsRecordedByItsCount() throws {
        let dir = try TemporaryDirectory()
        // 101 signals: one batch (the pump reads up to 1000 lines that fit in the output queue).
        let e = try engine(dir.path, subjects: (1...101).map { "p\($0)" })
        let daemon = Daemon(engine: e, socketPath: dir.socketPath)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        let stream = try JourneyConnection(socketPath: dir.socketPath, timeout: .seconds(5))
        defer { stream.close() }
        _ = try stream.request(#"{"op":"signals","consumer":"bulk"}"#)
        for _ in 1...101 { _ = try stream.receive() }
        let entries = try signalEntries(dir.path)
        #expect(entries.map(\.count) == [101])
        #expect(entries.first?.ids == [])
        #expect(entries.first?.parameters == #"{"consumer":"bulk","first_seq":1,"last_seq":101}"#)
    }

    @Test func noSignalIsSentWhenTheAuditCannotBeWritten() throws {
        let dir = try TemporaryDirectory()
        let e = try engine(dir.path, subjects: ["a", "b"], brokenAudit: true)
        let daemon = Daemon(engine: e, socketPath: dir.socketPath)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        let stream = try JourneyConnection(socketPath: dir.socketPath, timeout: .seconds(5))
        defer { stream.close() }
        #expect(try stream.request(#"{"op":"signals","consumer":"outreach"}"#) == #"{"ok":true,"consumer":"outreach","after":0}"#)
        let refusal = try parse(try stream.receive())
        #expect(refusal.errorCode == "audit_unavailable")
        #expect(refusal["error"]?["message"]?.stringValue?.contains("the answer was not given") == true)
        #expect(throws: ClientError.self) { _ = try stream.receive() }
        let c = try JourneyConnection(socketPath: dir.socketPath, timeout: .seconds(5))
        defer { c.close() }
        #expect(try parse(try c.request(#"{"op":"stats"}"#))["audit_failures"]?.int64Value == 1)
        // Nothing was acknowledged on the consumer's behalf.
        #expect(try e.log.signalConsumer("outreach")?.acked == 0)
    }

    @Test func theEmbeddedStreamRecordsEachChunkAndFailsClosed() async throws {
        let dir = try TemporaryDirectory()
        let e = try engine(dir.path, subjects: ["a", "b"])
        var it = try e.signals(consumer: "crm", as: AuditContext(actor: "crm-sync", reason: "nightly")).makeAsyncIterator()
        #expect(try await it.next()?.patient == "a")
        var entries = try signalEntries(dir.path)
        #expect(entries.map(\.ids) == [["a", "b"]])
        #expect(entries.first?.actor == "crm-sync" && entries.first?.reason == "nightly")
        #expect(entries.first?.parameters == #"{"consumer":"crm","first_seq":1,"last_seq":2}"#)
        // The second comes from the chunk already recorded.
        #expect(try await it.next()?.patient == "b")
        #expect(try signalEntries(dir.path).count == 1)
        // A page read records its patients too, each once.
        // c enters (seq 3), then leaves with a booking (seq 4).
        _ = try await e.append([cancellation("c")])
        e.settleSignals()
        _ = try await e.append([Event(id: "b-c", type: .booking, subject: "c", at: t0 + 29 * day)])
        e.settleSignals()
        let page = try e.signals(consumer: "crm", after: 0, as: "report")
        #expect(page.map(\.seq) == [1, 2, 3, 4])
        #expect(page.map(\.patient) == ["a", "b", "c", "c"])
        entries = try signalEntries(dir.path)
        #expect(entries.last?.ids == ["a", "b", "c"] && entries.last?.actor == "report")

        let broken = try TemporaryDirectory()
        let b = try engine(broken.path, subjects: ["a"], brokenAudit: true)
        var refused = try b.signals(consumer: "crm", as: "crm-sync").makeAsyncIterator()
        await #expect(throws: AuditUnavailable.self) { _ = try await refused.next() }
        #expect(throws: AuditUnavailable.self) { _ = try b.signals(consumer: "crm", after: 0, as: "report") }
    }

    @Test(binaryNeeded) func theCommandLineRecordsWhatItPrints() throws {
        let dir = try TemporaryDirectory()
        let store = dir.path + "/s"
        mkdir(store, 0o700)
        do { _ = try engine(store, subjects: ["a", "b"]) }
        let printed = try run(["signals", "--consumer", "outreach", "--as", "dr-lee", "--reason", "recall", "--data", store])
        #expect(printed.status == 0 && printed.stdout.split(separator: "\n").count == 2)
        let entries = try signalEntries(store)
        #expect(entries.map(\.ids) == [["a", "b"]])
        #expect(entries.first?.actor == "dr-lee" && entries.first?.reason == "recall")
        #expect(entries.first?.pid != getpid())

        // Through a daemon: the daemon records the batch, under the command's --as.
        let serve = try ServeProcess(directory: store)
        #expect(serve.waitUntilServing())
        #expect(try run(["signals", "--consumer", "outreach", "--as", "front-desk", "--data", store]).status == 0)
        #expect(try signalEntries(store).last?.actor == "front-desk")
        #expect(serve.terminate(SIGTERM) == 0)

        // Without a writable audit the command prints nothing and fails.
        unlink(store + "/" + AuditLog.fileName)
        mkdir(store + "/" + AuditLog.fileName, 0o700)
        let refused = try run(["signals", "--consumer", "outreach", "--data", store])
        #expect(refused.status != 0 && refused.stdout == "")
        #expect(refused.stderr.contains("audit_unavailable"))
    }
}
