import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// The pipelined import (parser thread, batches grouped into one transaction) against the
// one-batch-at-a-time import through `LocalAppender`: same counts, same rejected lines in the
// same order, same log, same projections, whatever the batch, chunk and group sizes.

private func event(_ id: String, _ subject: String, minute: Int, type: String = "call", extra: String = "") -> String {
    #"{"id":"\#(id)","type":"\#(type)","subject":"\#(subject)","at":"2026-02-01T10:\#(minute < 10 ? "0" : "")\#(minute):00Z"\#(extra)}"#
}

/// 15 lines: 7 new events, 2 duplicates (lines 7 and 15), 5 rejected lines: bad JSON (3), a
/// missing subject (8), an id stored with other content (9, and 12 within the same stretch of
/// lines as the event it contradicts), a bad timestamp (14); line 5 is blank.
private let mixedLines = [
    event("e1", "s1", minute: 1),
    event("e2", "s1", minute: 2, type: "chat"),
    #"{"id":"e8","type":"call""#,
    event("e3", "s2", minute: 3),
    "",
    event("e4", "s2", minute: 4, type: "booking"),
    event("e2", "s1", minute: 2, type: "chat"),
    #"{"id":"e9","type":"call","at":"2026-02-01T10:00:00Z"}"#,
    event("e3", "s2", minute: 33),
    event("e5", "s3", minute: 5, extra: #","channel":"phone""#),
    event("e6", "s3", minute: 6, type: "identify", extra: #","patient":"s1""#),
    event("e5", "s3", minute: 55),
    event("e7", "s1", minute: 7, type: "visit"),
    #"{"id":"x","type":"call","subject":"s","at":"2026-13-01T00:00:00Z"}"#,
    event("e1", "s1", minute: 1),
]

/// What one import did, and the store it left.
private struct Outcome: Equatable {
    var tally: ImportTally
    var rejected: [String]
    var log: [String]
    var events: Int
    var clusters: Int
    var patients: [JourneyState?]
}

private func withInput<R>(_ lines: [String], _ body: (Int32, String) throws -> R) throws -> R {
    let dir = try TemporaryDirectory()
    let path = dir.path + "/input.ndjson"
    let text = lines.joined(separator: "\n") + "\n"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0)
    _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress!, $0.count - 1) }
    close(fd)
    let input = open(path, O_RDONLY)
    try #require(input >= 0)
    defer { close(input) }
    return try body(input, path)
}

/// Imports `lines` into a fresh store, pipelined or not, and describes the result.
private func importLines(_ lines: [String], pipelined: Bool, batchSize: Int, chunkSize: Int,
                         window: Int = 32) throws -> Outcome {
    let store = try TemporaryDirectory()
    return try withInput(lines) { fd, path in
        let rejected = Mutex<[String]>([])
        let importer = Importer(fd: fd, path: path, batchSize: batchSize, chunkSize: chunkSize) { e in
            rejected.withLock { $0.append(e.description) }
        }
        let engine = try JourneyEngine(directory: store.path)
        let tally = pipelined
            ? try importer.runPipelined(engine: engine, window: window)
            : try importer.run(appender: LocalAppender(engine: engine))
        let log = try engine.log.events().map { "\($0.0) \(EventJSON.encode($0.1))" }
        let stats = engine.projectionStats
        let patients = try ["s1", "s2", "s3", "e-0", "e-1"].map { id in
            try engine.patient(id: id, asOf: 1_900_000_000_000, as: "test")
        }
        return Outcome(tally: tally, rejected: rejected.withLock { $0 }, log: log, events: stats.events,
                       clusters: stats.clusters, patients: patients)
    }
}

@Suite struct ImportTests {
    @Test func mixedInputGivesTheHandCountedResult() throws {
        let r = try importLines(mixedLines, pipelined: true, batchSize: 3, chunkSize: 100, window: 2)
        #expect(r.tally == ImportTally(appended: 7, duplicates: 2, rejected: 5))
        #expect(r.rejected.count == 5)
        for (n, what) in [(3, "JSON"), (8, "\"subject\""), (9, "other content"), (12, "other content"), (14, "\"at\"")] {
            #expect(r.rejected.contains { $0.hasPrefix("line \(n):") && $0.contains(what) }, "line \(n): \(r.rejected)")
        }
        #expect(r.log.count == 7)
        #expect(r.log.first?.hasPrefix("1 ") == true)
        #expect(r.log.map { $0.split(separator: "\"")[3] } == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"])
        #expect(r.events == 7)
    }

    /// A UTF-8 byte order mark is skipped at the start of the file (RFC 8259 §8.1), on both import
    /// paths; anywhere else it makes the line invalid JSON.
    @Test(arguments: [false, true])
    func aByteOrderMarkStartsTheFileOnly(pipelined: Bool) throws {
        let bom = "\u{FEFF}"
        let lines = [bom + event("e1", "s1", minute: 1), bom + event("e2", "s1", minute: 2)]
        let r = try importLines(lines, pipelined: pipelined, batchSize: 10, chunkSize: 2)
        #expect(r.tally == ImportTally(appended: 1, duplicates: 0, rejected: 1))
        #expect(r.rejected.count == 1 && r.rejected[0].hasPrefix("line 2:"), "\(r.rejected)")
        #expect(r.log.count == 1 && r.log[0].contains("\"e1\""))
    }

    @Test(arguments: [(1, 1, 1), (3, 100, 1), (3, 100, 2), (2, 37, 3), (4, 250, 32), (100, 1 << 20, 32)])
    func pipelinedImportMatchesTheBatchByBatchImport(batchSize: Int, chunkSize: Int, window: Int) throws {
        let sequential = try importLines(mixedLines, pipelined: false, batchSize: batchSize, chunkSize: chunkSize)
        let pipelined = try importLines(mixedLines, pipelined: true, batchSize: batchSize, chunkSize: chunkSize,
                                        window: window)
        #expect(pipelined == sequential)
        #expect(pipelined.tally == ImportTally(appended: 7, duplicates: 2, rejected: 5))
    }

    @Test func duplicatesAndConflictsAcrossManyBatchesAndGroups() throws {
        // 60 events, then the same 60 again (duplicates) with every seventh changed (conflicts)
        // and a bad line every eleventh line: batch, group and chunk edges fall everywhere.
        var lines: [String] = []
        for i in 0..<60 { lines.append(event("e-\(i)", "s\(i % 5)", minute: i % 60)) }
        for i in 0..<60 {
            lines.append(event("e-\(i)", "s\(i % 5)", minute: i % 7 == 0 ? (i + 1) % 60 : i % 60))
            if i % 11 == 0 { lines.append(#"{"id":"bad-\#(i)"}"#) }
        }
        let sequential = try importLines(lines, pipelined: false, batchSize: 8, chunkSize: 300)
        let pipelined = try importLines(lines, pipelined: true, batchSize: 8, chunkSize: 300, window: 4)
        #expect(pipelined == sequential)
        // 9 conflicts (i = 0, 7, …, 56) and 6 bad lines (i = 0, 11, …, 55).
        #expect(pipelined.tally == ImportTally(appended: 60, duplicates: 51, rejected: 15))
    }

    @Test func repeatsWithinOneTransactionMatchTheBatchByBatchImport() throws {
        // Every id three times within one group: the same content (duplicates of an earlier
        // batch or the same batch), or changed (conflicts); one id stored by an earlier import.
        var lines: [String] = []
        for round in 0..<3 {
            for i in 0..<10 {
                lines.append(event("e-\(i)", "s\(i % 3)", minute: round == 2 && i % 4 == 1 ? 59 : i))
            }
        }
        func run(pipelined: Bool) throws -> Outcome {
            let store = try TemporaryDirectory()
            let engine = try JourneyEngine(directory: store.path)
            _ = try engine.append([try EventParser.parse(event("e-7", "s1", minute: 7))])
            return try withInput(lines) { fd, path in
                let rejected = Mutex<[String]>([])
                let importer = Importer(fd: fd, path: path, batchSize: 3, chunkSize: 150) { e in
                    rejected.withLock { $0.append(e.description) }
                }
                let tally = pipelined ? try importer.runPipelined(engine: engine, window: 32)
                    : try importer.run(appender: LocalAppender(engine: engine))
                #expect(try engine.log.verify().problems.isEmpty)
                return Outcome(tally: tally, rejected: rejected.withLock { $0 },
                               log: try engine.log.events().map { "\($0.0) \(EventJSON.encode($0.1))" },
                               events: engine.projectionStats.events, clusters: engine.projectionStats.clusters,
                               patients: try ["s0", "s1", "s2"].map { try engine.patient(id: $0, asOf: 1_900_000_000_000, as: "test") })
            }
        }
        let sequential = try run(pipelined: false)
        let pipelined = try run(pipelined: true)
        #expect(pipelined == sequential)
        // e-7 was stored: its three lines are duplicates. The 9 others are appended once,
        // duplicated in round 1, and in round 2 duplicated unless changed (e-1, e-5, e-9).
        #expect(pipelined.tally == ImportTally(appended: 9, duplicates: 3 + 9 + 6, rejected: 3))
        #expect(pipelined.log.count == 10)
    }

    @Test func aSubjectTooLongForTheIndexFailsTheImportAtTheSameBatch() throws {
        // 128 four-byte scalars: a valid subject of 512 bytes, one more than an LMDB key holds.
        let long = String(repeating: "\u{1F600}", count: 128)
        var lines: [String] = []
        for i in 0..<10 { lines.append(event("e-\(i)", "s\(i)", minute: i)) }
        lines.append(event("e-long", long, minute: 10))
        for i in 11..<20 { lines.append(event("e-\(i)", "s\(i)", minute: i)) }
        func attempt(pipelined: Bool) throws -> (String, [String]) {
            let store = try TemporaryDirectory()
            return try withInput(lines) { fd, path in
                let importer = Importer(fd: fd, path: path, batchSize: 4, chunkSize: 200) { _ in }
                let engine = try JourneyEngine(directory: store.path)
                var message = "no failure"
                do {
                    _ = pipelined ? try importer.runPipelined(engine: engine, window: 4)
                        : try importer.run(appender: LocalAppender(engine: engine))
                } catch let e as CommandFailure {
                    message = "\(e.code) \(e.message)"
                }
                return (message, try engine.log.events().map { EventJSON.encode($0.1) })
            }
        }
        let sequential = try attempt(pipelined: false)
        let pipelined = try attempt(pipelined: true)
        #expect(pipelined.0 == sequential.0)
        #expect(pipelined.0.contains("over 511 bytes"))
        #expect(pipelined.1 == sequential.1)
    }

    @Test func theSubjectsIndexOfAGroupedImportIsComplete() throws {
        // Subjects that share their first 8 bytes, are prefixes of one another, or end in a space
        // (the lowest byte an id may hold: control characters are refused).
        let subjects = ["subject-", "subject-a", "subject-ab", "subject- ", "subject", "p", "subject-a"]
        var lines: [String] = []
        for i in 0..<42 { lines.append(event("e-\(i)", subjects[i % 7], minute: i)) }
        let store = try TemporaryDirectory()
        try withInput(lines) { fd, path in
            let importer = Importer(fd: fd, path: path, batchSize: 5, chunkSize: 300) { _ in }
            let engine = try JourneyEngine(directory: store.path)
            let tally = try importer.runPipelined(engine: engine, window: 3)
            #expect(tally == ImportTally(appended: 42, duplicates: 0, rejected: 0))
            #expect(try engine.log.verify().problems.isEmpty)
            // Event i is at position i + 1; "subject-a" is every 7th event from 1 and from 6.
            #expect(try engine.log.positions(subject: "subject-a") == [2, 7, 9, 14, 16, 21, 23, 28, 30, 35, 37, 42])
            #expect(try engine.log.positions(subject: "subject- ") == [4, 11, 18, 25, 32, 39])
            #expect(try engine.log.positions(subject: "subject") == [5, 12, 19, 26, 33, 40])
            #expect(try engine.log.positions(subject: "p") == [6, 13, 20, 27, 34, 41])
        }
    }

    @Test func linesTheFastParserDeclinesAndBadLinesAmidFastOnesMatchTheBatchByBatchImport() throws {
        // Lines parsed straight to records, lines with escapes (the general path's), attributes
        // in any order, and bad lines between them, all within the same batches.
        let lines = [
            "\u{FEFF}" + event("e1", "s1", minute: 1),
            event("e2", "s1", minute: 2, extra: #","attrs":{"b":"2","a":"1"}"#),
            event("e3", "s\\u0031", minute: 3),
            #"{"id":"e4","type":"call","subject":"s2","at":"2026-02-01T10:04:00Z","source":"x"#,
            event("e5", "s2", minute: 5, extra: #","agent":"a\"b""#),
            event("e6", "s2", minute: 6, extra: #","duration_s":-1"#),
            event("e7", "s3", minute: 7, extra: #","attrs":{"k":"v","k":"w"}"#),
            "  " + event("e8", "s3", minute: 8, extra: #" , "channel" : "sms" "#) + "  ",
            event("e2", "s1", minute: 2, extra: #","attrs":{"a":"1","b":"2"}"#),
            event("e1", "s1", minute: 1, extra: #","source":null"#),
            event("e9", "s3", minute: 9, type: "referral"),
            event("e1", "s1", minute: 11),
        ]
        let sequential = try importLines(lines, pipelined: false, batchSize: 100, chunkSize: 1 << 20)
        let pipelined = try importLines(lines, pipelined: true, batchSize: 100, chunkSize: 1 << 20)
        #expect(pipelined == sequential)
        // Appended: e1, e2, e3, e5, e8; duplicates: e2 (attributes reordered), e1 (null source);
        // rejected: lines 4 (JSON), 6 (duration), 7 (attrs key twice), 11 (referrer), 12 (conflict).
        #expect(pipelined.tally == ImportTally(appended: 5, duplicates: 2, rejected: 5))
        #expect(pipelined.rejected.map { $0.prefix(8) } == ["line 4: ", "line 6: ", "line 7: ", "line 11:", "line 12:"])
        #expect(pipelined.log.map { $0.split(separator: "\"")[3] } == ["e1", "e2", "e3", "e5", "e8"])
        #expect(pipelined.log[2].contains(#""subject":"s1""#))
        #expect(pipelined.log[3].contains(#""agent":"a\"b""#))
        #expect(pipelined.log[1].contains(#""attrs":{"a":"1","b":"2"}"#))
    }

    @Test(arguments: [1, 4, 1000])
    func anyNumberOfBatchesInFlightMatchesTheBatchByBatchImport(window: Int) throws {
        var lines: [String] = []
        for i in 0..<50 { lines.append(event("e-\(i % 40)", "s\(i % 40 % 6)", minute: i % 40 == 3 && i >= 40 ? 59 : i % 40)) }
        lines.insert(#"{"id":"bad"}"#, at: 17)
        let sequential = try importLines(lines, pipelined: false, batchSize: 3, chunkSize: 200)
        let store = try TemporaryDirectory()
        let pipelined = try withInput(lines) { fd, path in
            let importer = Importer(fd: fd, path: path, batchSize: 3, chunkSize: 200) { _ in }
            let engine = try JourneyEngine(directory: store.path)
            let tally = try importer.runPipelined(engine: engine, window: window)
            #expect(try engine.log.verify().problems.isEmpty)
            return (tally, try engine.log.events().map { "\($0.0) \(EventJSON.encode($0.1))" })
        }
        #expect(pipelined.0 == sequential.tally && pipelined.1 == sequential.log)
        // 40 new, 9 repeats of which e-3 changed (a conflict), one bad line.
        #expect(pipelined.0 == ImportTally(appended: 40, duplicates: 9, rejected: 2))
    }

    @Test func handOffKeepsOrderAndBoundsWhatWaits() throws {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let queue = HandOff<Int>(capacity: 3)
        let produced = Counter()
        startThread {
            for i in 0..<200 {
                queue.put(i)
                produced.value.add(1, ordering: .relaxed)
            }
        }
        var taken: [Int] = []
        for _ in 0..<200 {
            // The producer is never more than the capacity ahead of what was taken.
            #expect(produced.value.load(ordering: .relaxed) <= taken.count + 3)
            taken.append(queue.take())
        }
        #expect(taken == Array(0..<200))
    }
}
