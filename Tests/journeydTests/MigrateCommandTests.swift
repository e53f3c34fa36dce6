import Foundation
import Glibc
import JourneyStore
import Testing

// `journeyd migrate` on the fixture store of format 1 (Tests/Fixtures/store-v1): every other
// command refuses it, naming migrate; after it, the export is byte for byte the one the release
// that wrote the store gave (`expected/export.ndjson`, recorded with that release: the events and
// positions are kept), and every query answers as a store freshly imported from the same events
// does (the projection rules are this release's: v2 of the contract changed some of them, so the
// old release's query answers in `expected/` are kept for reference, not compared).

private let fixture: String = {
    let tests = ((#filePath as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    return tests + "/Fixtures/store-v1"
}()

private func fixtureCopy(_ dir: TemporaryDirectory) throws -> String {
    let path = dir.path + "/store"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: fixture + "/data.mdb", toPath: path + "/data.mdb")
    return path
}

private func expected(_ name: String) throws -> String {
    try String(contentsOfFile: fixture + "/expected/" + name, encoding: .utf8)
}

/// The answers recorded from the format-1 store, with the arguments that gave them.
private let recordedAnswers: [(file: String, args: [String])] = [
    ("export.ndjson", ["export"]),
    ("patient-pat-100.json", ["patient", "pat-100", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
    ("patient-pat-200.json", ["patient", "pat-200", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
    ("patient-pat-300.json", ["patient", "pat-300", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
    ("patient-anon-3.json", ["patient", "anon-3", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
    ("handoff-anon-1.json", ["handoff", "anon-1", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
    ("funnel.json", ["funnel", "--json"]),
    ("contacts.json", ["contacts", "--json"]),
    ("at-risk.json", ["at-risk", "--as-of", "2026-04-01T00:00:00Z", "--json"]),
]

@Suite("journeyd migrate", .enabled(if: journeydBinary != nil))
struct MigrateCommandTests {
    @Test("every other command refuses a format-1 store, naming journeyd migrate, and changes nothing")
    func refusedBeforeMigration() throws {
        let dir = try TemporaryDirectory()
        let path = try fixtureCopy(dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        let events = fixture + "/events.ndjson"
        let commands: [[String]] = [
            ["stats"], ["verify"], ["export"], ["patient", "pat-100"], ["handoff", "anon-1"], ["funnel"],
            ["contacts"], ["at-risk"], ["replay"], ["audit"], ["import", events], ["backup", dir.path + "/copy"],
            ["serve"],
        ]
        for command in commands {
            let r = try run(command + ["--data", path])
            #expect(r.status == 3, "\(command): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("old_format"), "\(command): \(r.stderr)")
            #expect(r.stderr.contains("journeyd migrate --data \(path)"), "\(command): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(command): \(r.stdout)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    @Test("after migrate, the export equals the store's own release's, and every answer a fresh import's, before and after a replay")
    func sameAnswers() throws {
        let dir = try TemporaryDirectory()
        let path = try fixtureCopy(dir)
        // The same events, imported by this release into a new store.
        let fresh = dir.path + "/fresh"
        #expect(try run(["import", fixture + "/events.ndjson", "--data", fresh]).status == 0)
        var freshAnswers: [String: String] = [:]
        for (file, args) in recordedAnswers {
            freshAnswers[file] = try run(args + ["--data", fresh]).stdout
        }
        let migrated = try run(["migrate", "--data", path])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("from format 1 to 2: 22 events checksummed"), "\(migrated.stdout)")
        #expect(migrated.stderr.contains("migrate: 22/22 events (100%)"), "\(migrated.stderr)")
        for round in ["restored", "replayed"] {
            for (file, args) in recordedAnswers {
                let r = try run(args + ["--data", path])
                #expect(r.status == 0, "\(args): \(r.stderr)")
                if file == "export.ndjson" { #expect(r.stdout == (try expected(file)), "\(round): \(args)") }
                #expect(r.stdout == freshAnswers[file], "\(round): \(args)")
                #expect(!r.stdout.isEmpty, "\(round): \(args)")
            }
            let verified = try run(["verify", "--data", path])
            #expect(verified.stdout == "checked 22 records, 22 id entries, 22 subject entries, 1 checkpoints\nok\n")
            if round == "restored" {
                #expect(try run(["replay", "--data", path]).status == 0)
            }
        }
        let again = try run(["migrate", "--data", path])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already of format 2: nothing to do"))
    }

    @Test("migrate refuses a directory without a store, and a file that is not one")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        let none = try run(["migrate", "--data", dir.path + "/nothing"])
        #expect(none.status == 3)
        #expect(none.stderr.contains("there is no store"), "\(none.stderr)")
        let path = dir.path + "/garbage"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data(repeating: 0xA5, count: 16_384).write(to: URL(fileURLWithPath: path + "/data.mdb"))
        for command in [["migrate"], ["stats"], ["verify"], ["export"]] {
            let r = try run(command + ["--data", path])
            #expect(r.status == 3, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("corrupt"), "\(command): \(r.stderr)")
        }
    }
}
