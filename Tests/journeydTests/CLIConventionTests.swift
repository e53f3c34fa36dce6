import Foundation
import JourneyCore
import JourneyStore
import Testing
@testable import journeyd

@Suite struct CLIConventionTests {
    @Test(binaryNeeded) func versionNamesTheReleaseAndStoreFormat() throws {
        let r = try run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == "journeyd \(releaseVersion) (store format \(EventLog.formatVersion))\n")
    }

    /// With --json, a failure is one JSON error object on stdout (the protocol's shape, with
    /// its code), and the exit code is the same as without.
    @Test(binaryNeeded) func jsonErrorsAreJSON() throws {
        let dir = try TemporaryDirectory()
        let data = dir.path + "/store"
        let ndjson = dir.path + "/one.ndjson"
        try #"{"id":"e1","type":"call","subject":"p1","at":1}"#.write(toFile: ndjson, atomically: true, encoding: .utf8)
        #expect(try run(["import", ndjson, "--data", data]).status == 0)

        let cases: [([String], String, Int32)] = [
            (["patient", "nobody", "--data", data, "--json"], "not_found", Exit.badInput),
            (["funnel", "--bogus", "--data", data, "--json"], "usage", Exit.usage),
            (["funnel", "--by", "nothing", "--data", data, "--json"], "bad_request", Exit.badInput),
            (["stats", "--data", dir.path + "/none", "--json"], "failed", Exit.store),
        ]
        for (args, code, exit) in cases {
            let r = try run(args)
            #expect(r.status == exit, "\(args)")
            let v = try JSONParser.parse(r.stdout)
            #expect(v["ok"]?.boolValue == false, "\(args)")
            #expect(v["error"]?["code"]?.stringValue == code, "\(args): \(r.stdout)")
            #expect(v["error"]?["message"]?.stringValue?.hasPrefix("journeyd \(args[0]): ") == true)
            #expect(r.stderr.isEmpty, "\(args): \(r.stderr)")
            // Without --json: the message on stderr, nothing on stdout, the same exit code.
            let plain = try run(Array(args.dropLast()))
            #expect(plain.status == exit && plain.stdout.isEmpty && plain.stderr.hasPrefix("journeyd \(args[0]): "))
        }
    }
}

@Suite struct CommandHelpTests {
    /// Every command's --help names each of its flags with a description, and exits 0.
    @Test(binaryNeeded) func everyCommandDescribesEveryFlag() throws {
        let commands = ["serve", "import", "export", "patient", "handoff", "funnel", "contacts", "at-risk", "appointments",
                        "patients", "cohorts", "trends", "referrals", "segment", "report", "replay", "stats", "verify",
                        "backup", "audit", "signals", "migrate", "demo", "generate"]
        for c in commands {
            let r = try run([c, "--help"])
            #expect(r.status == 0, "\(c)")
            #expect(r.stdout.hasPrefix("usage: journeyd \(c)"), "\(c)")
            // Each option line has a description after its name.
            let options = r.stdout.split(separator: "\n").filter { $0.hasPrefix("  --") }
            #expect(!options.isEmpty, "\(c)")
            for line in options {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                #expect(parts.count >= 3, "\(c): \(line)")
            }
        }
        let signals = try run(["signals", "--help"])
        #expect(signals.stdout.contains("--from SEQ") && signals.stdout.contains("--as NAME"))
    }
}
