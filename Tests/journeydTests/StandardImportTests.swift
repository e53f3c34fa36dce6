import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// `journeyd import --format fhir|segment` on all three paths (batch by batch, pipelined into a
// local store, streamed through a serving daemon): the same counts, rejections and log.

private func appointment(_ id: String, _ status: String, patient: String = "p1") -> String {
    #"{"resourceType":"Appointment","id":"\#(id)","status":"\#(status)","created":"2026-03-01T10:00:00Z","meta":{"lastUpdated":"2026-03-02T08:30:00Z"},"start":"2026-03-10T09:00:00Z","participant":[{"actor":{"reference":"Patient/\#(patient)","display":"Jane Public"}}]}"#
}

/// 8 lines: 4 events (a1 booking; a2 booking and cancellation; e1 visit), 1 bad line (6: no
/// patient), 3 skipped records (Patient, Observation, a proposed Appointment); line 4 is blank.
private let fhirLines = [
    appointment("a1", "booked"),
    appointment("a2", "cancelled"),
    #"{"resourceType":"Patient","id":"p1","name":[{"family":"Public","given":["Jane"]}],"telecom":[{"value":"555-0100"}],"birthDate":"1980-02-03","address":[{"line":["1 Elm St"]}]}"#,
    "",
    #"{"resourceType":"Encounter","id":"e1","status":"finished","subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-10T09:05:00Z"},"appointment":[{"reference":"Appointment/a1"}]}"#,
    #"{"resourceType":"Appointment","id":"a3","status":"booked","created":"2026-03-01T10:00:00Z","participant":[]}"#,
    #"{"resourceType":"Observation","id":"o1","status":"final"}"#,
    appointment("a4", "proposed"),
]

private enum Path: CaseIterable { case batchByBatch, pipelined, daemon }

/// What an import did, and the log it left.
private struct Outcome: Equatable {
    var tally: ImportTally
    var rejected: [String]
    var log: [String]
}

/// A store (served by a daemon for `.daemon`) that several imports go into.
private final class Target {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon?

    init(_ path: Path) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path)
        if path == .daemon {
            let d = Daemon(engine: engine, socketPath: directory.socketPath)
            try d.start(config: ServerConfig())
            daemon = d
        } else {
            daemon = nil
        }
    }

    deinit { try? daemon?.stop() }

    func importLines(_ lines: [String], format: InputFormat, path: Path, batchSize: Int = 3) throws -> Outcome {
        let file = directory.path + "/input-\(UInt32.random(in: 0...UInt32.max)).ndjson"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        let fd = open(file, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let rejected = Mutex<[String]>([])
        var importer = Importer(fd: fd, path: file, batchSize: batchSize, chunkSize: 128) { e in
            rejected.withLock { $0.append(e.description) }
        }
        importer.format = format
        let tally: ImportTally
        switch path {
        case .batchByBatch: tally = try importer.run(appender: LocalAppender(engine: engine))
        case .pipelined: tally = try importer.runPipelined(engine: engine, window: 2)
        case .daemon:
            let c = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
            defer { c.close() }
            tally = try importer.run(connection: c)
        }
        let log = try engine.log.events().map { EventJSON.encode($0.1) }
        return Outcome(tally: tally, rejected: rejected.withLock { $0 }, log: log)
    }
}

@Suite("Standard input import")
struct StandardImportTests {
    @Test(arguments: Path.allCases)
    private func fhirCountsAppendedRejectedAndSkipped(path: Path) throws {
        let target = try Target(path)
        let r = try target.importLines(fhirLines, format: .fhir, path: path)
        #expect(r.tally == ImportTally(appended: 4, duplicates: 0, rejected: 1,
                                       skipped: ["Patient": 1, "Observation": 1, "Appointment proposed": 1]))
        #expect(r.rejected.count == 1)
        #expect(r.rejected.first?.hasPrefix("line 6: field \"participant\"") == true, "\(r.rejected)")
        #expect(r.log.map { try! JSONParser.parse($0)["type"]!.stringValue! } == ["booking", "booking", "cancellation", "visit"])
        // Nothing of the Patient resource is stored.
        for secret in ["Jane", "555", "1980", "Elm"] { #expect(!r.log.joined().contains(secret)) }
    }

    @Test(arguments: Path.allCases)
    private func aReImportIsAllDuplicatesAndAStatusChangeAddsOnlyTheNewEvent(path: Path) throws {
        let target = try Target(path)
        let first = try target.importLines(fhirLines, format: .fhir, path: path)
        let again = try target.importLines(fhirLines, format: .fhir, path: path)
        #expect(again.tally == ImportTally(appended: 0, duplicates: 4, rejected: 1, skipped: first.tally.skipped))
        #expect(again.log == first.log)
        // a1 is now a no-show: its booking is a duplicate, its no-show the one new event.
        var changed = fhirLines
        changed[0] = appointment("a1", "noshow")
        let third = try target.importLines(changed, format: .fhir, path: path)
        #expect(third.tally == ImportTally(appended: 1, duplicates: 4, rejected: 1, skipped: first.tally.skipped))
        #expect(third.log.count == 5)
        #expect(third.log.last?.contains(#""id":"fhir:Appointment/a1:no_show:"#) == true)
    }

    @Test(arguments: Path.allCases)
    private func allPathsLeaveTheSameLog(path: Path) throws {
        let reference = try Target(.batchByBatch).importLines(fhirLines, format: .fhir, path: .batchByBatch)
        #expect(try Target(path).importLines(fhirLines, format: .fhir, path: path) == reference)
    }

    @Test(arguments: Path.allCases)
    private func segmentWithAPracticeMap(path: Path) throws {
        let map = try SegmentEventMap.standard.merging(json: Array(#"{"Consult Requested":"form"}"#.utf8))
        let lines = [
            #"{"type":"track","event":"Consult Requested","userId":"p1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z","properties":{"topic":"implants"}}"#,
            #"{"type":"track","event":"Product Viewed","userId":"p1","messageId":"m2","timestamp":"2026-03-01T10:00:00Z"}"#,
            #"{"type":"identify","userId":"p1","anonymousId":"a1","messageId":"m3","timestamp":"2026-03-01T10:00:00Z","traits":{"email":"jane@example.com"}}"#,
            #"{"type":"page","anonymousId":"a1","timestamp":"2026-03-01T10:00:00Z"}"#,
        ]
        let r = try Target(path).importLines(lines, format: .segment(SegmentMapping(eventMap: map)), path: path)
        #expect(r.tally == ImportTally(appended: 2, duplicates: 0, rejected: 1, skipped: [#"track "Product Viewed""#: 1]))
        #expect(r.rejected == [#"line 4: field "messageId": missing required field"#])
        #expect(r.log == [
            #"{"id":"m1","type":"form","subject":"p1","at":"2026-03-01T10:00:00.000Z","attrs":{"topic":"implants"}}"#,
            #"{"id":"m3","type":"identify","subject":"a1","at":"2026-03-01T10:00:00.000Z","patient":"p1"}"#,
        ])
    }

    @Test(.enabled(if: journeydBinary != nil, "no journeyd executable (run swift build first)"))
    func theCommandPrintsCountsSkippedRecordsAndFileNames() throws {
        let dir = try TemporaryDirectory()
        let a = dir.path + "/Appointment.ndjson", b = dir.path + "/Encounter.ndjson"
        try (fhirLines[0..<4].joined(separator: "\n") + "\n").write(toFile: a, atomically: false, encoding: .utf8)
        try (fhirLines[4...].joined(separator: "\n") + "\n").write(toFile: b, atomically: false, encoding: .utf8)
        let r = try run(["import", "--data", dir.path + "/store", "--format", "fhir", a, b])
        #expect(r.status == Exit.badInput)
        #expect(r.stdout.hasPrefix("appended 4, duplicate 0, rejected 1"), "\(r.stdout)")
        #expect(r.stdout.contains("skipped 3: Appointment proposed 1, Observation 1, Patient 1"), "\(r.stdout)")
        #expect(r.stderr.contains("\(b): line 2: field \"participant\""), "\(r.stderr)")
        let usage = try run(["import", "--data", dir.path + "/store", "--format", "hl7", a])
        #expect(usage.status == Exit.usage)
        let twoNDJSON = try run(["import", "--data", dir.path + "/store", a, b])
        #expect(twoNDJSON.status == Exit.usage)
    }
}
