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
