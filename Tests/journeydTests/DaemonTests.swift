import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// The daemon end to end: every op through the socket (in process), subscriptions, the audit
// trail, and the built `journeyd` binary (second serve, SIGTERM, kill -9, CLI parity).

// MARK: fixtures

/// A small hand-made practice. p1 first came as an anonymous web visitor (anon1) who filled a
/// form, was identified, then booked a1 for March. p2 chatted (resolved at once), booked a2 and
/// cancelled it. p3 booked a3 and cancelled it.
let journey: [String] = [
    #"{"id":"e1","type":"web_visit","subject":"anon1","at":"2026-01-01T10:00:00Z","source":"google"}"#,
    #"{"id":"e2","type":"form","subject":"anon1","at":"2026-01-01T10:05:00Z","conversation":"c1","concern":"toothache"}"#,
    #"{"id":"e3","type":"identify","subject":"anon1","patient":"p1","at":"2026-01-02T09:00:00Z"}"#,
    #"{"id":"e4","type":"booking","subject":"p1","at":"2026-01-02T09:10:00Z","appointment":"a1","scheduled_for":"2026-03-10T15:00:00Z"}"#,
    #"{"id":"e5","type":"chat","subject":"p2","at":"2026-01-03T00:00:00Z","conversation":"c2","resolved":true}"#,
    #"{"id":"e6","type":"booking","subject":"p2","at":"2026-01-03T00:30:00Z","appointment":"a2"}"#,
    #"{"id":"e7","type":"cancellation","subject":"p2","at":"2026-01-04T00:00:00Z","appointment":"a2"}"#,
    #"{"id":"e8","type":"booking","subject":"p3","at":"2026-01-05T00:00:00Z","appointment":"a3"}"#,
    #"{"id":"e9","type":"cancellation","subject":"p3","at":"2026-01-06T00:00:00Z","appointment":"a3"}"#,
]

func appendRequest(_ events: [String]) -> String {
    #"{"op":"append","events":["# + events.joined(separator: ",") + "]}"
}

func parse(_ line: String) throws -> JSONValue {
    try JSONParser.parse(Array(line.utf8))
}

func ints(_ v: JSONValue?) -> [Int64] {
    (v?.arrayValue ?? []).compactMap(\.int64Value)
}

func strings(_ v: JSONValue?) -> [String] {
    (v?.arrayValue ?? []).compactMap(\.stringValue)
}

func errorCodeOf(_ v: JSONValue) -> String? {
    guard v["ok"]?.boolValue == false else { return nil }
    return v["error"]?["code"]?.stringValue
}

/// A daemon on a fresh store, with one client connection; stopped and removed afterwards.
final class RunningDaemon {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon
    let client: JourneyConnection
    private var stopped = false

    init(checkpoints: Daemon.CheckpointPolicy = .init()) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path)
        daemon = Daemon(engine: engine, socketPath: directory.socketPath, checkpoints: checkpoints)
        try daemon.start(config: ServerConfig())
        client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
    }

    func connect() throws -> JourneyConnection {
        try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
    }

    func ask(_ line: String) throws -> JSONValue {
        try parse(try client.request(line))
    }

    func stop() throws {
        guard !stopped else { return }
        stopped = true
        client.close()
        try daemon.stop()
    }

    deinit {
        try? stop()
    }
}

// MARK: the built binary

/// The `journeyd` executable built next to the test bundle, or nil.
let journeydBinary: String? = {
    var candidates: [String] = []
    let argv0 = CommandLine.arguments.first ?? ""
    var dir = (argv0 as NSString).deletingLastPathComponent
    // The bundle may be a directory (`….xctest/…`): walk up a few levels.
    for _ in 0..<4 where !dir.isEmpty {
        candidates.append(dir + "/journeyd")
        dir = (dir as NSString).deletingLastPathComponent
    }
    candidates.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent + "/journeyd")
    // Tests/journeydTests/DaemonTests.swift → the package root.
    let root = ((#filePath as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    let packageRoot = (root as NSString).deletingLastPathComponent
    candidates.append(packageRoot + "/.build-h5/debug/journeyd")
    return candidates.first { access($0, X_OK) == 0 }
}()

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `journeyd` to completion; fails the run after `timeout`.
func run(_ args: [String], timeout: Duration = .seconds(20)) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: journeydBinary!)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read before waiting: a full pipe would block the child.
    let outData = Shared(Data())
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        let d = out.fileHandleForReading.readDataToEndOfFile()
        outData.value.withLock { $0 = d }
        group.leave()
    }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    let ok = waitForExit(p, timeout: timeout)
    if !ok { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    group.wait()
    #expect(ok, "journeyd \(args.joined(separator: " ")) did not finish in time")
    return RunResult(status: p.terminationStatus,
                     stdout: String(decoding: outData.value.withLock { $0 }, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

func waitForExit(_ p: Process, timeout: Duration) -> Bool {
    eventually(timeout: timeout) { !p.isRunning }
}

/// A `journeyd serve` child process, killed at the end if still running.
final class ServeProcess {
    let process = Process()
    let directory: String
    let socketPath: String

    /// Serves `directory` on `socket` (default `DIRECTORY/journeyd.sock`), with `environment`
    /// added to this process's.
    init(directory: String, socket: String? = nil, environment: [String: String] = [:]) throws {
        self.directory = directory
        socketPath = socket ?? directory + "/journeyd.sock"
        process.executableURL = URL(fileURLWithPath: journeydBinary!)
        process.arguments = ["serve", "--data", directory] + (socket.map { ["--socket", $0] } ?? [])
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until the daemon answers a ping and the store's lock record names its socket
    /// (where the command line looks for it).
    func waitUntilServing() -> Bool {
        eventually(timeout: .seconds(10)) { [self] in
            guard process.isRunning, let c = try? JourneyConnection(socketPath: socketPath, timeout: .seconds(2)) else {
                return false
            }
            defer { c.close() }
            return (try? c.request(#"{"op":"ping"}"#)) == #"{"ok":true}"#
                && EventLog.writer(of: directory)?.socket.map(Self.absolute) == Self.absolute(socketPath)
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    func signal(_ sig: Int32) {
        kill(process.processIdentifier, sig)
    }

    /// The exit status after `sig`, or nil if it did not exit in time.
    func terminate(_ sig: Int32 = SIGTERM) -> Int32? {
        signal(sig)
        guard waitForExit(process, timeout: .seconds(10)) else { return nil }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

// MARK: tests

/// The process tests need the built executable: `swift build` first.
let binaryNeeded = ConditionTrait.enabled(if: journeydBinary != nil,
    "no journeyd executable next to the test bundle or in .build-h5/debug (run swift build first)")

@Suite(.serialized)
struct DaemonTests {
    init() {
        // Peers in these tests hang up on purpose; that must be an EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
    }

    // MARK: in process

    @Test func aServingDaemonSavesCheckpointsAsEventsArrive() throws {
        let d = try RunningDaemon(checkpoints: .init(interval: .milliseconds(20), minEvents: 5))
        let savedPosition = { (try? d.engine.log.loadCheckpoint(name: JourneyEngine.checkpointName))??.position }
        #expect(savedPosition() == nil)
        // Below the threshold: nothing is saved.
        _ = try d.ask(appendRequest(Array(journey.prefix(4))))
        usleep(150_000)
        #expect(savedPosition() == nil)
        // Past it: a checkpoint at the projected position, which a fresh projector restores.
        _ = try d.ask(appendRequest(Array(journey.dropFirst(4))))
        #expect(eventually(timeout: .seconds(5)) { savedPosition() == 9 })
        let saved = try #require(try d.engine.log.loadCheckpoint(name: JourneyEngine.checkpointName))
        let restored = try Projector(deserializing: saved.data)
        #expect(restored.eventCount == 9)
        #expect(restored.patient(id: "p1", asOf: 0) == (try d.engine.patient(id: "p1", asOf: 0, as: "test")))
        try d.stop()
    }

    @Test func pingAndAppend() throws {
        let d = try RunningDaemon()
        #expect(try d.client.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)

        let first = try d.ask(appendRequest(journey))
        #expect(first["ok"]?.boolValue == true)
        #expect(ints(first["positions"]) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(ints(first["duplicates"]) == [])

        // e1 again, its time given as epoch ms (same content as parsed), plus a new event.
        let again = try d.ask(appendRequest([
            #"{"id":"e1","type":"web_visit","subject":"anon1","at":1767261600000,"source":"google"}"#,
            #"{"id":"e10","type":"eligibility","subject":"p1","at":"2026-01-02T10:00:00Z","status":"verified"}"#,
        ]))
        #expect(again["ok"]?.boolValue == true)
        #expect(ints(again["positions"]) == [1, 10])
        #expect(ints(again["duplicates"]) == [0])

        // A new event with a conflicting one: the whole request fails, nothing appended.
        let conflict = try d.ask(appendRequest([
            #"{"id":"e11","type":"web_visit","subject":"anon9","at":"2026-01-09T00:00:00Z"}"#,
            #"{"id":"e1","type":"web_visit","subject":"someone-else","at":"2026-01-01T10:00:00Z"}"#,
        ]))
        #expect(conflict.errorCode == "conflict")
        #expect(conflict["error"]?["message"]?.stringValue?.isEmpty == false)

        let stats = try d.ask(#"{"op":"stats"}"#)
        #expect(stats["ok"]?.boolValue == true)
        #expect(stats["events"]?.int64Value == 10)
        #expect(stats["last_position"]?.int64Value == 10)
        #expect(stats["projected_position"]?.int64Value == 10)
        // p1 (with anon1), p2, p3, anon9 was never stored.
        #expect(stats["clusters"]?.int64Value == 3)
        #expect(try d.ask(#"{"op":"patient","id":"anon9"}"#).errorCode == "not_found")
        try d.stop()
    }

    @Test func patientAndHandoff() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(journey))
        let asOf = #""as_of":"2026-02-01T00:00:00Z""#

        // Asked by the anonymous id, answered for the cluster under its canonical id.
        let p = try d.ask(#"{"op":"patient","id":"anon1",\#(asOf)}"#)
        #expect(p["ok"]?.boolValue == true)
        #expect(p["patient"]?.stringValue == "p1")
        #expect(strings(p["aliases"]) == ["anon1"])
        #expect(p["as_of"]?.stringValue == "2026-02-01T00:00:00.000Z")
        #expect(p["stage"]?.stringValue == "booked")
        #expect(strings(p["risk"]) == [])
        #expect(p["acquisition_channel"]?.stringValue == "web")
        #expect(p["first_touch"]?["at"]?.stringValue == "2026-01-01T10:00:00.000Z")
        #expect(p["first_touch"]?["source"]?.stringValue == "google")
        #expect(p["first_touch"]?["medium"]?.isNull == true)
        #expect(p["last_touch"]?["type"]?.stringValue == "booking")
        #expect(p["inquiries"]?.int64Value == 1)
        #expect(p["bookings"]?.int64Value == 1)
        #expect(p["visits"]?.int64Value == 0)
        #expect(p["counts"]?["identify"]?.int64Value == 1)
        #expect(p["counts"]?["form"]?.int64Value == 1)

        // The same answer by the canonical id.
        let byCanonical = try d.client.request(#"{"op":"patient","id":"p1",\#(asOf)}"#)
        let byAlias = try d.client.request(#"{"op":"patient","id":"anon1",\#(asOf)}"#)
        #expect(byCanonical == byAlias)

        let h = try d.ask(#"{"op":"handoff","id":"p1",\#(asOf)}"#)
        #expect(h["ok"]?.boolValue == true)
        #expect(h["patient"]?.stringValue == "p1")
        #expect(strings(h["aliases"]) == ["anon1"])
        #expect(h["stage"]?.stringValue == "booked")
        #expect(h["eligibility"]?.stringValue == "unknown")
        #expect(h["conversation"]?.stringValue == "c1")
        #expect(h["conversation_status"]?.stringValue == "open")
        #expect(h["concern"]?.stringValue == "toothache")
        #expect(strings(h["channels"]) == ["web"])
        #expect(h["contacts"]?.int64Value == 1)
        #expect(h["upcoming"]?["appointment"]?.stringValue == "a1")
        #expect(h["upcoming"]?["scheduled_for"]?.stringValue == "2026-03-10T15:00:00.000Z")

        // After the appointment's time it is no longer upcoming.
        let later = try d.ask(#"{"op":"handoff","id":"anon1","as_of":"2026-03-11T00:00:00Z"}"#)
        #expect(later["upcoming"]?.isNull == true)

        // p2's conversation was resolved by its first contact.
        let h2 = try d.ask(#"{"op":"handoff","id":"p2",\#(asOf)}"#)
        #expect(h2["conversation"]?.stringValue == "c2")
        #expect(h2["conversation_status"]?.stringValue == "resolved")
        #expect(strings(h2["aliases"]) == [])

        #expect(try d.ask(#"{"op":"patient","id":"nobody"}"#).errorCode == "not_found")
        #expect(try d.ask(#"{"op":"handoff","id":"nobody"}"#).errorCode == "not_found")
        #expect(try d.ask(#"{"op":"patient"}"#).errorCode == "bad_request")
        try d.stop()
    }

    @Test func funnelContactsAtRisk() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(journey))

        // Default: touch → inquiry → booking → visit, 30 days, by channel of the entry.
        // p1 enters on web (e1), reaches inquiry (e2, +5 min) and booking (e4, +23h05m);
        // p3 enters on web (booking e8) and stops; p2 enters on chat (e5), which is its inquiry
        // too (step time 0), and books 30 min later (e6).
        let f = try d.ask(#"{"op":"funnel"}"#)
        #expect(f["ok"]?.boolValue == true)
        #expect(strings(f["steps"]) == ["touch", "inquiry", "booking", "visit"])
        #expect(f["window_s"]?.int64Value == 2_592_000)
        #expect(f["by"]?.stringValue == "channel")
        let groups = f["groups"]?.arrayValue ?? []
        #expect(groups.map { $0["value"]?.stringValue } == ["web", "chat"])
        if groups.count == 2 {
            let web = groups[0]["steps"]?.arrayValue ?? []
            #expect(web.map { $0["count"]?.int64Value } == [2, 1, 1, 0])
            #expect(web.map { $0["median_ms"]?.int64Value } == [nil, 300_000, 83_100_000, nil])
            #expect(web.first?["median_ms"]?.isNull == true)
            let chat = groups[1]["steps"]?.arrayValue ?? []
            #expect(chat.map { $0["count"]?.int64Value } == [1, 1, 1, 0])
            #expect(chat.map { $0["median_ms"]?.int64Value } == [nil, 0, 1_800_000, nil])
        }

        // touch → booking within an hour, no breakdown: p2 (chat, then booking 30 min later), and
        // p1 and p3, whose bookings are touches that reach the booking step themselves (0 ms).
        let g = try d.ask(#"{"op":"funnel","steps":["touch","booking"],"window_s":3600,"by":"none"}"#)
        #expect(g["ok"]?.boolValue == true)
        #expect(g["window_s"]?.int64Value == 3600)
        #expect(g["by"]?.stringValue == "none")
        let none = g["groups"]?.arrayValue ?? []
        #expect(none.count == 1)
        #expect(none.first?["value"]?.isNull == true)
        let steps = none.first?["steps"]?.arrayValue ?? []
        #expect(steps.map { $0["count"]?.int64Value } == [3, 3])
        #expect(steps.last?["median_ms"]?.int64Value == 0)  // of 0, 0 and 30 min
        #expect(try d.ask(#"{"op":"funnel","steps":["touch","bogus"]}"#).errorCode == "bad_request")
        #expect(try d.ask(#"{"op":"funnel","by":"colour"}"#).errorCode == "bad_request")

        // Contacts: c1 (a web form, open), c2 (a chat resolved at first contact).
        let c = try d.ask(#"{"op":"contacts"}"#)
        #expect(c["ok"]?.boolValue == true)
        let channels = c["channels"]?.arrayValue ?? []
        #expect(Set(channels.compactMap { $0["channel"]?.stringValue }) == ["chat", "web"])
        let chat = channels.first { $0["channel"]?.stringValue == "chat" }
        #expect(chat?["conversations"]?.int64Value == 1)
        #expect(chat?["resolved"]?.int64Value == 1)
        #expect(chat?["first_contact_resolved"]?.int64Value == 1)
        #expect(chat?["handoffs"]?.int64Value == 0)
        let web = channels.first { $0["channel"]?.stringValue == "web" }
        #expect(web?["conversations"]?.int64Value == 1)
        #expect(web?["resolved"]?.int64Value == 0)
        #expect(web?["first_contact_resolved"]?.int64Value == 0)

        // At risk on Feb 1: p2 and p3 cancelled weeks ago and never rebooked; paged one by one.
        let page1 = try d.ask(#"{"op":"at_risk","as_of":"2026-02-01T00:00:00Z","limit":1}"#)
        #expect(page1["ok"]?.boolValue == true)
        #expect(page1["as_of"]?.stringValue == "2026-02-01T00:00:00.000Z")
        let ps1 = page1["patients"]?.arrayValue ?? []
        #expect(ps1.map { $0["patient"]?.stringValue } == ["p2"])
        #expect(strings(ps1.first?["risk"]) == ["cancelled_not_rebooked"])
        #expect(ps1.first?["stage"]?.stringValue == "booked")
        #expect(page1["next"]?.stringValue == "p2")
        let page2 = try d.ask(#"{"op":"at_risk","as_of":"2026-02-01T00:00:00Z","limit":1,"after":"p2"}"#)
        #expect((page2["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p3"])
        #expect(page2["next"]?.isNull == true)
        let all = try d.ask(#"{"op":"at_risk","as_of":1769904000000}"#)
        #expect((all["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p2", "p3"])
        #expect(all["next"]?.isNull == true)
        // Ten days after p3's cancellation only p2's (fifteen days old) counts.
        let early = try d.ask(#"{"op":"at_risk","as_of":"2026-01-18T12:00:00Z"}"#)
        #expect((early["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p2"])
        #expect(try d.ask(#"{"op":"at_risk","limit":0}"#).errorCode == "bad_request")
        try d.stop()
    }

    @Test func badRequestsKeepTheConnection() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(Array(journey.prefix(2))))

        #expect(try d.ask(#"{"op":"ping""#).errorCode == "invalid_json")
        #expect(try d.ask(#"{"op":"ping"}"#)["ok"]?.boolValue == true)
        #expect(try d.ask("not json at all").errorCode == "invalid_json")
        #expect(try d.ask(#"{"op":"frobnicate"}"#).errorCode == "unknown_op")
        #expect(try d.ask(#"[1,2]"#).errorCode == "bad_request")
        #expect(try d.ask(#"{"op":"ping"}"#)["ok"]?.boolValue == true)

        // An unknown top-level field rejects the whole batch, naming the index and field.
        let bad = try d.ask(appendRequest([
            #"{"id":"x1","type":"web_visit","subject":"s","at":"2026-01-01T00:00:00Z"}"#,
            #"{"id":"x2","type":"web_visit","subject":"s","at":"2026-01-01T00:00:00Z","colour":"red"}"#,
        ]))
        #expect(bad.errorCode == "invalid_event")
        let message = bad["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("colour"), "message: \(message)")
        #expect(message.contains("1"), "message: \(message)")
        #expect(try d.ask(appendRequest([#"{"id":"x3","type":"teleport","subject":"s","at":1}"#])).errorCode == "invalid_event")
        #expect(try d.ask(#"{"op":"append","events":[]}"#).errorCode == "bad_request")
        #expect(try d.ask(#"{"op":"append"}"#).errorCode == "bad_request")

        // Still usable, and nothing was appended by the failures.
        #expect(try d.client.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)
        let stats = try d.ask(#"{"op":"stats"}"#)
        #expect(stats["events"]?.int64Value == 2)
        let next = try d.ask(appendRequest([#"{"id":"x1","type":"web_visit","subject":"s","at":"2026-01-01T00:00:00Z"}"#]))
        #expect(ints(next["positions"]) == [3])
        try d.stop()
    }

    @Test func overlongLineIsRefusedAndTheConnectionStays() throws {
        let d = try RunningDaemon()
        // Just over the 1 MiB default limit, inside an otherwise valid event.
        let concern = String(repeating: "a", count: 1 << 20)
        let huge = appendRequest([#"{"id":"big","type":"chat","subject":"s","at":1,"concern":"\#(concern)"}"#])
        let answer = try d.ask(huge)
        #expect(answer["ok"]?.boolValue == false)
        #expect(answer.errorCode == "line_too_long")
        #expect(try d.client.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)
        #expect(try d.ask(#"{"op":"stats"}"#)["events"]?.int64Value == 0)
        try d.stop()
    }

    @Test func concurrentAppendsGetDensePositions() throws {
        let d = try RunningDaemon()
        let positions = Shared<[Int64]>([])
        let socket = d.directory.socketPath
        // 4 clients × 10 batches × 5 events, committed in groups: 200 distinct dense positions.
        onThreads(4) { k in
            guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(5)) else { return }
            defer { c.close() }
            for b in 0..<10 {
                let events = (0..<5).map { #"{"id":"c\#(k)-\#(b)-\#($0)","type":"call","subject":"caller\#(k)","at":\#(b * 10 + $0)}"# }
                guard let answer = try? parse(try c.request(appendRequest(events))) else { return }
                let got = ints(answer["positions"])
                // One batch is atomic: its positions are consecutive.
                if got.count == 5, got.last! - got.first! == 4 {
                    positions.value.withLock { $0.append(contentsOf: got) }
                }
            }
        }
        #expect(positions.value.withLock { $0 }.sorted() == Array(1...200))
        let stats = try d.ask(#"{"op":"stats"}"#)
        #expect(stats["events"]?.int64Value == 200)
        #expect(stats["clusters"]?.int64Value == 4)
        try d.stop()
    }

    @Test func subscribeStreamsWithoutGapsOrRepeats() throws {
        let d = try RunningDaemon()
        func batch(_ b: Int, _ n: Int) -> [String] {
            (0..<n).map { #"{"id":"s\#(b)-\#($0)","type":"web_visit","subject":"v\#(b)","at":\#(1_767_225_600_000 + b * 1000 + $0)}"# }
        }
        _ = try d.ask(appendRequest(batch(0, 5)))

        let sub = try d.connect()
        defer { sub.close() }
        try sub.send(#"{"op":"subscribe","from":1}"#)
        #expect(try sub.receive() == #"{"ok":true,"subscribed":1}"#)

        // More appends from another connection while subscribed.
        let writer = try d.connect()
        for b in 1...4 {
            let answer = try parse(try writer.request(appendRequest(batch(b, 5))))
            #expect(ints(answer["positions"]) == Array(Int64(b * 5 + 1)...Int64(b * 5 + 5)))
        }
        writer.close()

        var positions: [Int64] = []
        var ids: [String] = []
        for _ in 0..<25 {
            let line = try parse(try sub.receive())
            positions.append(line["position"]?.int64Value ?? -1)
            ids.append(line["event"]?["id"]?.stringValue ?? "?")
        }
        #expect(positions == Array(1...25))
        #expect(ids == (0...4).flatMap { b in (0..<5).map { "s\(b)-\($0)" } })

        // From the middle: starts exactly there.
        let mid = try d.connect()
        defer { mid.close() }
        try mid.send(#"{"op":"subscribe","from":24}"#)
        #expect(try mid.receive() == #"{"ok":true,"subscribed":24}"#)
        #expect(try parse(try mid.receive())["position"]?.int64Value == 24)
        #expect(try parse(try mid.receive())["position"]?.int64Value == 25)
        #expect(try d.ask(#"{"op":"subscribe","from":0}"#).errorCode == "bad_request")
        try d.stop()
    }

    @Test func auditRecordsPatientAndHandoff() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(journey))
        #expect(try d.ask(#"{"op":"patient","id":"anon1","as":"dr-lee","reason":"visit"}"#)["patient"]?.stringValue == "p1")
        #expect(try d.ask(#"{"op":"handoff","id":"p2"}"#)["patient"]?.stringValue == "p2")
        // A lookup that finds nothing is recorded too (it tells whether the id exists);
        // aggregates name no patient and are not.
        #expect(try d.ask(#"{"op":"patient","id":"nobody"}"#).errorCode == "not_found")
        _ = try d.ask(#"{"op":"funnel"}"#)
        try d.stop()

        let records = try AuditLog.read(directory: d.engine.log.directory).entries.map(\.entry)
        #expect(records.map { "\($0.op) \($0.ids) \($0.actor ?? "-") \($0.reason ?? "-")" }
            == ["patient [\"p1\"] dr-lee visit", "handoff [\"p2\"] - -", "patient [] - -"])
        #expect(records.map(\.parameters) == [#"{"op":"patient","id":"anon1"}"#, #"{"op":"handoff","id":"p2"}"#,
                                               #"{"op":"patient","id":"nobody"}"#])
        #expect(records.allSatisfy { $0.uid == getuid() && $0.pid == getpid() })
    }

    // MARK: the binary

    @Test(binaryNeeded) func secondServeFailsAndSigtermCleansUp() throws {
        let dir = try TemporaryDirectory()
        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())
        // The socket is owner-only.
        var st = stat()
        #expect(stat(serve.socketPath, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)

        let second = try run(["serve", "--data", dir.path], timeout: .seconds(10))
        #expect(second.status != 0)
        #expect(second.stderr.contains("already"), "stderr: \(second.stderr)")
        // The first still serves, its socket untouched.
        let c = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(5))
        #expect(try c.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)
        c.close()

        #expect(serve.terminate(SIGTERM) == 0)
        #expect(access(serve.socketPath, F_OK) != 0)
    }

    @Test(binaryNeeded) func killNineLosesNoAcknowledgedEvent() throws {
        let dir = try TemporaryDirectory()
        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())

        // Three clients append 10-event batches until the daemon dies, so commits group.
        let acknowledged = Shared<[String]>([])
        let socket = serve.socketPath
        let clients = 3
        let finished = DispatchSemaphore(value: 0)
        for k in 0..<clients {
            let client = Thread {
                defer { finished.signal() }
                guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(5)) else { return }
                defer { c.close() }
                for b in 0..<100_000 {
                    let ids = (0..<10).map { "k\(k)-\(b)-\($0)" }
                    let events = ids.enumerated().map { i, id in
                        #"{"id":"\#(id)","type":"web_visit","subject":"kv\#(b % 7)","at":\#(1_767_225_600_000 + b * 10 + i)}"#
                    }
                    guard let answer = try? c.request(appendRequest(events)),
                          let v = try? parse(answer), v["ok"]?.boolValue == true else { return }
                    acknowledged.value.withLock { $0.append(contentsOf: ids) }
                }
            }
            client.start()
        }
        #expect(eventually(timeout: .seconds(10)) { acknowledged.value.withLock { $0.count } >= 300 })
        serve.signal(SIGKILL)
        for _ in 0..<clients {
            #expect(finished.wait(timeout: .now() + 10) == .success)
        }
        serve.process.waitUntilExit()
        let acked = acknowledged.value.withLock { $0 }
        #expect(acked.count >= 300)

        // Restart on the same directory (the dead daemon's socket file is stale).
        let again = try ServeProcess(directory: dir.path)
        #expect(again.waitUntilServing())
        let exported = try run(["export", "--data", dir.path])
        #expect(exported.status == 0)
        let ids = exported.stdout.split(separator: "\n").compactMap { line in
            (try? parse(String(line)))?["id"]?.stringValue
        }
        var seen: [String: Int] = [:]
        for id in ids { seen[id, default: 0] += 1 }
        #expect(seen.values.allSatisfy { $0 == 1 }, "an id is stored twice")
        let missing = acked.filter { seen[$0] == nil }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(5))")
        // At most one unacknowledged batch per client may have been committed before the kill.
        #expect(ids.count >= acked.count && ids.count <= acked.count + 10 * clients)

        // Dense positions: as many events as the last position, and the projections caught up.
        let c = try JourneyConnection(socketPath: again.socketPath, timeout: .seconds(5))
        let stats = try eventuallyStats(c, events: Int64(ids.count))
        c.close()
        #expect(stats?["events"]?.int64Value == Int64(ids.count))
        #expect(stats?["last_position"]?.int64Value == Int64(ids.count))
        #expect(stats?["projected_position"]?.int64Value == Int64(ids.count))
        // Seven subjects, one cluster each.
        #expect(stats?["clusters"]?.int64Value == 7)
        #expect(again.terminate(SIGTERM) == 0)

        let verify = try run(["verify", "--data", dir.path])
        #expect(verify.status == 0, "verify: \(verify.stdout) \(verify.stderr)")
    }

    @Test(binaryNeeded) func serveRefusesAStoreWhoseCheckpointIsAheadOfItsLog() throws {
        let dir = try TemporaryDirectory()
        do {
            let log = try EventLog(directory: dir.path)
            _ = try log.append([Event(id: "e1", type: .webVisit, subject: "v1", at: 1_767_225_600_000)])
            try log.saveCheckpoint(name: JourneyEngine.checkpointName, position: 3, data: Projector().serialize())
        }
        let serve = try run(["serve", "--data", dir.path], timeout: .seconds(10))
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("checkpoint is at position 3 but the log ends at 1"), "stderr: \(serve.stderr)")
        // It never listened, and verify names the same positions.
        #expect(access(dir.socketPath, F_OK) != 0)
        let verify = try run(["verify", "--data", dir.path])
        #expect(verify.status != 0)
        #expect(verify.stdout.contains("position 3: checkpoint \"projector\" is at position 3, ahead of the log's last position 1"),
                "verify: \(verify.stdout)")
    }

    @Test(binaryNeeded) func cliAnswersTheSameWithAndWithoutTheDaemon() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/events.ndjson"
        try (journey.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try run(["import", file, "--data", dir.path])
        #expect(imported.status == 0, "import: \(imported.stderr)")

        let commands: [[String]] = [
            ["patient", "anon1", "--json", "--as-of", "2026-02-01T00:00:00Z"],
            ["handoff", "p1", "--json", "--as-of", "2026-02-01T00:00:00Z"],
            ["funnel", "--json", "--steps", "touch,booking", "--window", "1h", "--by", "none"],
            ["contacts", "--json"],
            ["at-risk", "--json", "--as-of", "2026-02-01T00:00:00Z", "--limit", "1"],
            ["patient", "p1", "--as-of", "2026-02-01T00:00:00Z"],
        ]
        let direct = try commands.map { try run($0 + ["--data", dir.path]) }
        #expect(direct.allSatisfy { $0.status == 0 })
        #expect(direct[0].stdout.contains(#""patient":"p1""#), "direct: \(direct[0].stdout)")
        #expect(direct[0].stdout.contains(#""aliases":["anon1"]"#))
        #expect(direct[4].stdout.contains(#""next":"p2""#))

        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())
        let viaDaemon = try commands.map { try run($0 + ["--data", dir.path]) }
        for (i, command) in commands.enumerated() {
            #expect(viaDaemon[i].status == direct[i].status, "\(command)")
            #expect(viaDaemon[i].stdout == direct[i].stdout, "\(command)")
        }
        // Unknown ids fail the same way too.
        let missingDirect = try run(["patient", "nobody", "--json", "--data", dir.path])
        #expect(missingDirect.status != 0)
        #expect(serve.terminate(SIGTERM) == 0)
        let missingAfter = try run(["patient", "nobody", "--json", "--data", dir.path])
        #expect(missingAfter.status == missingDirect.status)
        #expect(missingAfter.stdout == missingDirect.stdout)
    }
}

extension DaemonTests {
    /// The import command into a served directory streams a file of several MiB (it once sent
    /// batches of 10,000 events as one request line, over the daemon's 1 MiB limit) and prints
    /// what a direct import prints.
    @Test(binaryNeeded) func importIntoAServedDirectoryStreamsThroughTheDaemon() throws {
        let dir = try TemporaryDirectory()
        var lines: [String] = []
        var generator = PracticeGenerator(.init(events: 30_000, seed: 3))
        while let e = generator.next() {
            lines.append(EventJSON.encode(e))
            if lines.count % 1_000 == 0 { lines.append(lines[lines.count - 500]) }
            if lines.count % 7_001 == 0 { lines.append(#"{"id":"x","type":"nope"}"#) }
        }
        let file = dir.path + "/events.ndjson"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(lines.joined().utf8.count > 4 << 20)
        let direct = try run(["import", file, "--data", dir.path + "/direct"])
        let servedDir = dir.path + "/served"
        mkdir(servedDir, 0o700)
        let serve = try ServeProcess(directory: servedDir)
        #expect(serve.waitUntilServing())
        let viaDaemon = try run(["import", file, "--data", servedDir], timeout: .seconds(60))
        func summary(_ r: RunResult) -> String { r.stdout.split(separator: "(").first.map(String.init) ?? r.stdout }
        #expect(viaDaemon.status == direct.status)
        #expect(summary(viaDaemon) == summary(direct))
        #expect(summary(direct).hasPrefix("appended 30000, duplicate 30, rejected 4"), "\(direct.stdout)")
        #expect(viaDaemon.stderr == direct.stderr)
        let stats = try run(["stats", "--json", "--data", servedDir])
        #expect(stats.stdout.contains(#""events":30000"#), "\(stats.stdout)")
        #expect(serve.terminate(SIGTERM) == 0)
        #expect(try run(["export", "--data", servedDir]).stdout == (try run(["export", "--data", dir.path + "/direct"])).stdout)
    }
}

/// Stats once the projections have folded `events` (a restarted daemon may still be rebuilding).
private func eventuallyStats(_ c: JourneyConnection, events: Int64) throws -> JSONValue? {
    var last: JSONValue?
    _ = eventually(timeout: .seconds(10)) {
        last = try? parse(try c.request(#"{"op":"stats"}"#))
        return last?["projected_position"]?.int64Value == events && last?["rebuilding"]?.isNull == true
    }
    return last
}

extension JSONValue {
    var errorCode: String? { errorCodeOf(self) }
}

/// A value shared with a thread.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

@Suite(.serialized)
struct RebuildCrashTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test(binaryNeeded) func killNineDuringARebuildLosesNothingAcknowledged() throws {
        let dir = try TemporaryDirectory()
        // A log long enough that a rebuild takes a while.
        let file = dir.path + "/events.ndjson"
        let lines = PracticeGenerator(.init(events: 120_000, seed: 9)).map { EventJSON.encode($0) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        let store = dir.path + "/store"
        #expect(try run(["import", file, "--data", store], timeout: .seconds(120)).status == 0)

        let serve = try ServeProcess(directory: store)
        #expect(serve.waitUntilServing())
        let acknowledged = Shared<[String]>([])
        let finished = DispatchSemaphore(value: 0)
        let socket = serve.socketPath
        let client = Thread {
            defer { finished.signal() }
            guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(5)) else { return }
            defer { c.close() }
            for b in 0..<1_000_000 {
                let ids = (0..<5).map { "rb-\(b)-\($0)" }
                let events = ids.enumerated().map { i, id in
                    #"{"id":"\#(id)","type":"call","subject":"rb\#(b % 5)","at":\#(1_767_225_600_000 + b * 10 + i)}"#
                }
                guard let answer = try? c.request(appendRequest(events)),
                      let v = try? parse(answer), v["ok"]?.boolValue == true else { return }
                acknowledged.value.withLock { $0.append(contentsOf: ids) }
            }
        }
        client.start()
        #expect(eventually(timeout: .seconds(10)) { acknowledged.value.withLock { $0.count } >= 50 })
        // Kill while a replay is rebuilding (checked through stats just before the kill).
        let control = try JourneyConnection(socketPath: socket, timeout: .seconds(5))
        var killedMidRebuild = false
        for _ in 0..<20 where !killedMidRebuild {
            _ = try control.request(#"{"op":"replay"}"#)
            let stats = try parse(try control.request(#"{"op":"stats"}"#))
            if stats["rebuilding"]?.isNull == false {
                serve.signal(SIGKILL)
                killedMidRebuild = true
            }
        }
        control.close()
        #expect(killedMidRebuild, "no replay was caught rebuilding")
        if !killedMidRebuild { serve.signal(SIGKILL) }
        #expect(finished.wait(timeout: .now() + 10) == .success)
        serve.process.waitUntilExit()
        let acked = acknowledged.value.withLock { $0 }

        let again = try ServeProcess(directory: store)
        #expect(again.waitUntilServing())
        let exported = try run(["export", "--data", store], timeout: .seconds(60))
        #expect(exported.status == 0)
        let ids = Set(exported.stdout.split(separator: "\n").compactMap { line in
            (try? parse(String(line)))?["id"]?.stringValue
        })
        let missing = acked.filter { !ids.contains($0) }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(5))")
        let c = try JourneyConnection(socketPath: again.socketPath, timeout: .seconds(5))
        let stats = try eventuallyStats(c, events: Int64(ids.count))
        c.close()
        #expect(stats?["last_position"]?.int64Value == Int64(ids.count))
        #expect(stats?["projected_position"]?.int64Value == Int64(ids.count))
        #expect(again.terminate(SIGTERM) == 0)
        let verify = try run(["verify", "--data", store], timeout: .seconds(60))
        #expect(verify.status == 0, "verify: \(verify.stdout) \(verify.stderr)")
    }
}

@Suite(.serialized)
struct TerminationTests {
    /// SIGTERM stops a serving daemon cleanly every time: the signal's default action is turned
    /// off before the Dispatch source registers its handler, never after (which lost the signal
    /// whenever the registration came first).
    @Test(binaryNeeded) func sigtermStopsEveryStart() throws {
        for round in 0..<8 {
            let dir = try TemporaryDirectory()
            let serve = try ServeProcess(directory: dir.path)
            #expect(serve.waitUntilServing(), "round \(round)")
            #expect(serve.terminate(SIGTERM) == 0, "round \(round): SIGTERM did not stop the daemon")
        }
    }
}
