import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// `journeyd import` into a served directory (SPEC §4 v2) against the direct import of the same
// file into an unserved one (`Importer.runPipelined`): same counts, same rejected lines in the
// same order, same log, same answers.

/// A daemon serving a fresh store in process, with its line limit.
private final class ServedStore {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon

    init(maxLineBytes: Int = 1 << 20) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path)
        daemon = Daemon(engine: engine, socketPath: directory.socketPath)
        try daemon.start(config: ServerConfig(maxLineBytes: maxLineBytes))
    }

    deinit { try? daemon.stop() }
}

/// What one import did and the store it left: its counts, its rejections as printed, its log
/// as `journeyd export` writes it, and a few answers.
private struct Imported: Equatable {
    var tally: ImportTally
    var rejected: [String]
    var export: [UInt8]
    var answers: [String]
}

private func describe(_ engine: JourneyEngine, _ tally: ImportTally, _ rejected: [String], ids: [String]) throws -> Imported {
    var export: [UInt8] = []
    try engine.log.scan(from: 1) { _, view in
        var w = JSONWriter()
        EventJSON.write(try view.event(), into: &w)
        export += w.bytes
        export.append(10)
        return true
    }
    let ops = Ops(engine: engine, reader: "test")
    var answers: [String] = []
    for id in ids {
        let r = try Request.decode(Array(#"{"op":"patient","id":"\#(id)","as_of":"2030-01-01T00:00:00Z"}"#.utf8))
        answers.append(String(decoding: (try? ops.answer(r)) ?? Array("not found".utf8), as: UTF8.self))
    }
    let funnel = try Request.decode(Array(#"{"op":"funnel","by":"source"}"#.utf8))
    answers.append(String(decoding: try ops.answer(funnel), as: UTF8.self))
    let stats = try ops.stats()
    answers.append("events \(stats.events) last \(stats.lastPosition) clusters \(stats.clusters)")
    return Imported(tally: tally, rejected: rejected, export: export, answers: answers)
}

/// Imports the file at `path` directly into a fresh unserved store.
private func importDirectly(_ path: String, ids: [String] = []) throws -> Imported {
    let store = try TemporaryDirectory()
    let fd = open(path, O_RDONLY)
    try #require(fd >= 0)
    defer { close(fd) }
    let rejected = Mutex<[String]>([])
    let importer = Importer(fd: fd, path: path) { e in rejected.withLock { $0.append(e.description) } }
    let engine = try JourneyEngine(directory: store.path)
    let tally = try importer.runPipelined(engine: engine)
    return try describe(engine, tally, rejected.withLock { $0 }, ids: ids)
}

/// Imports the file at `path` through a daemon serving a fresh store.
private func importThroughDaemon(_ path: String, ids: [String] = [], maxLineBytes: Int = 1 << 20,
                                 requestBytes: Int? = nil, askLimits: Bool = true, maxInFlight: Int = 8) throws -> Imported {
    let served = try ServedStore(maxLineBytes: maxLineBytes)
    let fd = open(path, O_RDONLY)
    try #require(fd >= 0)
    defer { close(fd) }
    let rejected = Mutex<[String]>([])
    let importer = Importer(fd: fd, path: path) { e in rejected.withLock { $0.append(e.description) } }
    let connection = try JourneyConnection(socketPath: served.directory.socketPath, timeout: .seconds(60))
    defer { connection.close() }
    let tally = try importer.run(connection: connection, requestBytes: requestBytes, askLimits: askLimits,
                                 maxInFlight: maxInFlight)
    return try describe(served.engine, tally, rejected.withLock { $0 }, ids: ids)
}

/// Writes `lines` to a file in `dir`; returns its path.
private func write(_ lines: [String], in dir: TemporaryDirectory) throws -> String {
    let path = dir.path + "/input.ndjson"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0)
    defer { close(fd) }
    let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
    #expect(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) } == bytes.count)
    return path
}

private func event(_ id: String, _ subject: String, minute: Int, type: String = "call", extra: String = "") -> String {
    #"{"id":"\#(id)","type":"\#(type)","subject":"\#(subject)","at":"2026-02-01T10:\#(minute < 10 ? "0" : "")\#(minute):00Z"\#(extra)}"#
}

/// 400 events of ~1.5 KiB and ~100 bytes, repeated (duplicates) and changed (conflicts), with bad
/// lines, conflicts within one request and across requests.
private func mixedLines() -> [String] {
    var lines: [String] = []
    // Events of about 1.5 KiB: attributes near their limit (1 KiB) and a long concern.
    let filler = String(repeating: "x", count: 300)
    func attrs(_ i: Int) -> String {
        i % 9 == 0 ? #","attrs":{"a":"\#(filler)","b":"\#(filler)","c":"\#(filler)"},"concern":"\#(filler)""# : ""
    }
    for i in 0..<300 {
        lines.append(event("e-\(i)", "s\(i % 17)", minute: i % 60, extra: attrs(i)))
        if i % 23 == 0 { lines.append(#"{"id":"bad-\#(i)","type":"call"}"#) }
        if i % 31 == 5 { lines.append(event("e-\(i)", "s\(i % 17)", minute: (i + 1) % 60)) }  // conflict, same request
        if i % 37 == 0 { lines.append("{not json") }
    }
    for i in stride(from: 0, to: 300, by: 3) {
        // Repeats: the same (duplicates) or changed (conflicts, in later requests).
        lines.append(event("e-\(i)", "s\(i % 17)", minute: i % 7 == 0 ? (i + 2) % 60 : i % 60, extra: i % 7 == 0 ? "" : attrs(i)))
    }
    for i in 300..<400 { lines.append(event("e-\(i)", "s\(i % 17)", minute: i % 60, extra: attrs(i))) }
    return lines
}

@Suite struct ImportStreamTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test(arguments: [nil, 6_000, 20_000] as [Int?])
    func badLinesAndConflictsAreRejectedAsByADirectImport(requestBytes: Int?) throws {
        let dir = try TemporaryDirectory()
        let path = try write(mixedLines(), in: dir)
        let ids = ["s1", "s5", "e-7"]
        let direct = try importDirectly(path, ids: ids)
        let served = try importThroughDaemon(path, ids: ids, requestBytes: requestBytes, maxInFlight: 3)
        #expect(served.tally == direct.tally)
        #expect(served.rejected == direct.rejected)
        #expect(served.export == direct.export)
        #expect(served.answers == direct.answers)
        #expect(direct.tally.rejected > 30 && direct.rejected.contains { $0.contains("other content") })
        #expect(direct.tally.appended == 400)
    }

    @Test func aRequestOverTheDaemonsLineLimitIsSentAgainInHalves() throws {
        let dir = try TemporaryDirectory()
        let path = try write(mixedLines(), in: dir)
        let direct = try importDirectly(path)
        // The client is told nothing of the limit: its requests of ~64 KiB are refused, then split.
        let served = try importThroughDaemon(path, maxLineBytes: 9_000, requestBytes: 64 << 10, askLimits: false)
        #expect(served == direct)
        #expect(served.tally.appended == 400)
    }

    /// A daemon of before `limits` and `on_conflict`: the client finds what fits, and splits a
    /// conflicting request itself.
    @Test(arguments: [1, 8])
    func anOlderDaemonGetsTheSameCounts(maxInFlight: Int) throws {
        let dir = try TemporaryDirectory()
        let path = try write(mixedLines(), in: dir)
        let direct = try importDirectly(path)

        let store = try TemporaryDirectory()
        let engine = try JourneyEngine(directory: store.path)
        let daemon = Daemon(engine: engine, socketPath: store.socketPath)
        let server = UnixSocketServer(path: store.socketPath, config: ServerConfig(maxLineBytes: 9_000),
                                      handler: OlderDaemon(daemon: daemon))
        try server.start()
        defer {
            server.stop()
            try? daemon.stop()
        }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let rejected = Mutex<[String]>([])
        let importer = Importer(fd: fd, path: path) { e in rejected.withLock { $0.append(e.description) } }
        let connection = try JourneyConnection(socketPath: store.socketPath, timeout: .seconds(10))
        defer { connection.close() }
        let tally = try importer.run(connection: connection, maxInFlight: maxInFlight)
        let served = try describe(engine, tally, rejected.withLock { $0 }, ids: [])
        #expect(served.tally == direct.tally)
        if maxInFlight == 1 {
            // One request at a time: each conflicting one is split before the next goes.
            #expect(served == direct)
        }
    }

    @Test func theDaemonAnswersItsLimits() throws {
        let served = try ServedStore(maxLineBytes: 10_000)
        let c = try JourneyConnection(socketPath: served.directory.socketPath, timeout: .seconds(5))
        defer { c.close() }
        let limits = try JSONParser.parse(Array(try c.request(#"{"op":"limits"}"#).utf8))
        #expect(limits["max_line_bytes"]?.int64Value == 10_000)
        #expect(limits["max_event_bytes"]?.int64Value == 4096)
    }

    @Test func anAppendThatRejectsConflictingEventsAnswersEachEvent() throws {
        let served = try ServedStore()
        let c = try JourneyConnection(socketPath: served.directory.socketPath, timeout: .seconds(5))
        defer { c.close() }
        _ = try c.request(#"{"op":"append","events":[\#(event("a", "s", minute: 1))]}"#)
        let batch = [event("b", "s", minute: 2), event("a", "s", minute: 9), event("a", "s", minute: 1),
                     event("c", "s", minute: 3), event("b", "s", minute: 8)]
        // The fast path, then the general one (a member it does not know sends the request there).
        for (line, duplicates) in [(#"{"op":"append","on_conflict":"reject_event","events":[\#(batch.joined(separator: ","))]}"#, [2] as [Int64]),
                                   (#"{ "events" : [\#(batch.joined(separator: ","))], "on_conflict" : "reject_event", "op" : "append", "x": 1}"#, [0, 2, 3])] {
            let r = try JSONParser.parse(Array(try c.request(line).utf8))
            #expect(r["ok"]?.boolValue == true, "\(r)")
            #expect(r["positions"]?.arrayValue?.map { $0.int64Value } == [2, nil, 1, 3, nil])
            #expect(ints(r["duplicates"]) == duplicates)
            #expect(r["rejected"]?.arrayValue?.map { $0["index"]?.int64Value } == [1, 4])
            #expect(r["rejected"]?.arrayValue?.map { $0["id"]?.stringValue } == ["a", "b"])
            #expect(r["rejected"]?.arrayValue?.map { $0["code"]?.stringValue } == ["conflict", "conflict"])
        }
        // Without the option the batch fails as a whole; a bad option is refused.
        let whole = try JSONParser.parse(Array(try c.request(#"{"op":"append","events":[\#(event("a", "s", minute: 5))]}"#).utf8))
        #expect(whole.errorCode == "conflict")
        let bad = try JSONParser.parse(Array(try c.request(#"{"op":"append","on_conflict":"skip","events":[\#(event("d", "s", minute: 5))]}"#).utf8))
        #expect(bad.errorCode == "bad_request")
    }

    @Test func aFailureStopsTheImportAndNamesTheLineToResumeFrom() throws {
        // 128 four-byte scalars: a valid subject of 512 bytes, one more than an LMDB key holds.
        let long = String(repeating: "\u{1F600}", count: 128)
        var lines: [String] = []
        for i in 0..<200 { lines.append(event("e-\(i)", "s\(i % 7)", minute: i % 60)) }
        lines[150] = event("e-long", long, minute: 10)
        lines.insert("{bad", at: 20)
        let dir = try TemporaryDirectory()
        let path = try write(lines, in: dir)
        let served = try ServedStore()
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let rejected = Mutex<[String]>([])
        let importer = Importer(fd: fd, path: path) { e in rejected.withLock { $0.append(e.description) } }
        let connection = try JourneyConnection(socketPath: served.directory.socketPath, timeout: .seconds(10))
        defer { connection.close() }
        // Requests of about 10 events: the one with line 152 fails, the others are stored.
        let failure = #expect(throws: CommandFailure.self) {
            _ = try importer.run(connection: connection, requestBytes: 1_000, maxInFlight: 4)
        }
        let message = failure?.message ?? ""
        let resume = try #require(message.split(separator: "resume from line ").last.flatMap { Int($0.prefix { $0.isNumber }) },
                                  "\(message)")
        #expect(resume <= 152 && resume > 140, "\(message)")
        #expect(message.contains("over 511 bytes"), "\(message)")
        #expect(rejected.withLock { $0 }.map { $0.prefix(8) } == ["line 21:"])
        // Every event before the line to resume from is stored; those after it may be too.
        let ids = Set(try served.engine.log.events().map(\.1.id))
        #expect((0..<(resume - 2)).allSatisfy { ids.contains("e-\($0)") })
        #expect(!ids.contains("e-long"))
        #expect(message.contains("appended \(ids.count)"), "\(message)")
    }

    /// A generated practice of over 50 MB, with duplicates, bad lines and conflicting ids mixed in.
    @Test func aFileOverFiftyMegabytesImportsThroughTheDaemonAsDirectly() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/practice.ndjson"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        var out: [UInt8] = []
        var recent: [[UInt8]] = []
        var n = 0
        var size = 0
        var generator = PracticeGenerator(.init(events: 400_000, seed: 7))
        func flush() {
            _ = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            size += out.count
            out.removeAll(keepingCapacity: true)
        }
        while size + out.count < 52 << 20, let e = generator.next() {
            var w = JSONWriter()
            EventJSON.write(e, into: &w)
            out += w.bytes
            out.append(10)
            n += 1
            if n % 64 == 0 { recent.append(w.bytes); if recent.count > 50 { recent.removeFirst() } }
            if n % 997 == 0, !recent.isEmpty { out += recent[n % recent.count]; out.append(10) }
            if n % 4_999 == 0 { out += Array(#"{"id":"bad-\#(n)","type":"call"}"#.utf8); out.append(10) }
            if n % 59_999 == 0 {
                // An earlier id with other content.
                let text = String(decoding: recent[recent.count / 2], as: UTF8.self).replacingFirst("\"at\":\"20", with: "\"at\":\"19")
                out += Array(text.utf8)
                out.append(10)
            }
            if out.count >= 1 << 20 { flush() }
        }
        flush()
        close(fd)
        #expect(size >= 50 << 20)
        let ids = ["p-1", "p-100", "p-2000", "e-1000"]
        let clock = ContinuousClock()
        var direct: Imported?
        let directTime = try clock.measure { direct = try importDirectly(path, ids: ids) }
        var served: Imported?
        let servedTime = try clock.measure { served = try importThroughDaemon(path, ids: ids) }
        let (d, s) = (try #require(direct), try #require(served))
        #expect(s.tally == d.tally)
        #expect(s.rejected == d.rejected)
        #expect(s.export == d.export)
        #expect(s.answers == d.answers)
        #expect(d.tally.rejected >= 65 && d.rejected.contains { $0.contains("other content") })
        #expect(d.tally.duplicates > 300)
        print("50 MB import: \(n) events, direct \(directTime), through the daemon \(servedTime)")
    }
}

/// Answers as a daemon without `limits` and `on_conflict` would.
private struct OlderDaemon: RequestHandler {
    let daemon: Daemon

    func handle(line: [UInt8], connection: ServerConnection) {
        let text = String(decoding: line, as: UTF8.self)
        if text.contains(#""op":"limits""#) {
            connection.send(ProtocolError("unknown_op", "unknown op \"limits\"").line)
            return
        }
        let older = text.replacingFirst(#""on_conflict":"reject_event","#, with: "")
        daemon.handle(line: Array(older.utf8), connection: connection)
    }
}

private extension String {
    /// This string with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let a = Array(utf8), t = Array(target.utf8)
        guard t.count <= a.count else { return self }
        for i in 0...(a.count - t.count) where Array(a[i..<i + t.count]) == t {
            return String(decoding: a[..<i] + Array(replacement.utf8) + a[(i + t.count)...], as: UTF8.self)
        }
        return self
    }
}
