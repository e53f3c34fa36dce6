import Foundation
import JourneyCore
import JourneyProtocol
import Testing
@testable import journeyd

/// A small practice in March 2026, with hand-computed reports.
let marchPractice = [
    #"{"id":"w-1","type":"web_visit","subject":"p-1","at":"2026-02-20T09:00:00Z","source":"google","campaign":"spring-recall"}"#,
    #"{"id":"bk-1","type":"booking","subject":"p-1","at":"2026-02-21T09:00:00Z","appointment":"apt-1","scheduled_for":"2026-03-02T10:00:00Z","location":"north","provider":"dr-lee"}"#,
    #"{"id":"v-1","type":"visit","subject":"p-1","at":"2026-03-02T10:00:00Z","appointment":"apt-1","amount":180.50}"#,
    #"{"id":"ref-2","type":"referral","subject":"p-2","at":"2026-03-01T12:00:00Z","referrer":"p-1"}"#,
    #"{"id":"bk-2","type":"booking","subject":"p-2","at":"2026-03-01T12:30:00Z","appointment":"apt-2","scheduled_for":"2026-03-05T15:00:00Z","location":"north","provider":"dr-lee"}"#,
    #"{"id":"ns-2","type":"no_show","subject":"p-2","at":"2026-03-05T15:30:00Z","appointment":"apt-2"}"#,
    #"{"id":"bk-2b","type":"booking","subject":"p-2","at":"2026-03-06T09:00:00Z","appointment":"apt-3","scheduled_for":"2026-03-12T15:00:00Z","location":"south","provider":"dr-ng"}"#,
    #"{"id":"v-3","type":"visit","subject":"p-2","at":"2026-03-12T15:00:00Z","appointment":"apt-3","amount":95}"#,
    #"{"id":"call-3","type":"call","subject":"p-3","at":"2026-03-03T08:00:00Z"}"#,
    #"{"id":"bk-4","type":"booking","subject":"p-3","at":"2026-03-03T08:10:00Z","appointment":"apt-4","scheduled_for":"2026-03-20T09:00:00Z","location":"south"}"#,
    #"{"id":"cx-4","type":"cancellation","subject":"p-3","at":"2026-03-10T08:00:00Z","appointment":"apt-4"}"#,
    #"{"id":"v-0","type":"visit","subject":"p-4","at":"2025-06-10T10:00:00Z","amount":120}"#,
    #"{"id":"v-0b","type":"visit","subject":"p-4","at":"2026-03-15T10:00:00Z","amount":120}"#,
]

@Suite(.serialized)
struct ReportOpsTests {
    static let march = #""from":"2026-03-01T00:00:00Z","to":"2026-04-01T00:00:00Z""#

    func object(_ v: JSONValue) -> String {
        String(decoding: Answer.object(of: Array(v.jsonText.utf8)), as: UTF8.self)
    }

    @Test func appointmentsOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        let a = try d.ask(#"{"op":"appointments","# + Self.march + #","by":"location"}"#)
        // north: apt-1 visited (180.50), apt-2 no-show rebooked the next day; south: apt-3
        // visited (95), apt-4 cancelled and never rebooked.
        #expect(object(a) == #"{"from":"2026-03-01T00:00:00.000Z","to":"2026-04-01T00:00:00.000Z","by":"location","groups":[{"value":"north","appointments":2,"visited":1,"no_show":1,"cancelled":0,"open":0,"no_show_rate":0.5,"cancellation_rate":0,"rebooked":1,"rebook_rate":1,"revenue":180.50},{"value":"south","appointments":2,"visited":1,"no_show":0,"cancelled":1,"open":0,"no_show_rate":0,"cancellation_rate":0.5,"rebooked":0,"rebook_rate":0,"revenue":95.00}]}"#)
        #expect(errorCodeOf(try d.ask(#"{"op":"appointments","to":"2026-04-01T00:00:00Z"}"#)) == "bad_request")
        let bad = try d.ask(#"{"op":"appointments","# + Self.march + #","by":"colour"}"#)
        #expect(bad["error"]?["message"]?.stringValue?.hasPrefix(#""by": unknown value "colour""#) == true)
        try d.stop()
    }

    @Test func patientsOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        // p-1 and p-2 new (p-2 referred); p-4 active in the year before March and back in it.
        let p = try d.ask(#"{"op":"patients","# + Self.march + #"}"#)
        #expect(object(p) == #"{"from":"2026-03-01T00:00:00.000Z","to":"2026-04-01T00:00:00.000Z","by":"none","groups":[{"value":null,"new":2,"referred_new":1,"active_at_start":1,"retained":1,"retention_rate":1,"lapsed":0,"visits":3,"revenue":395.50}]}"#)
        let byChannel = try d.ask(#"{"op":"patients","# + Self.march + #","by":"acquisition_channel"}"#)
        #expect((byChannel["groups"]?.arrayValue ?? []).map { $0["value"]?.stringValue ?? "null" } == ["referral", "web", "in_person"])
        try d.stop()
    }

    @Test func cohortsOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        let c = try d.ask(#"{"op":"cohorts","from":"2025-06-01T00:00:00Z","to":"2026-04-01T00:00:00Z","periods":3}"#)
        #expect(object(c) == #"{"from":"2025-06-01T00:00:00.000Z","to":"2026-04-01T00:00:00.000Z","periods":3,"by":"none","cohorts":[{"month":"2025-06","value":null,"size":1,"retained":[1,0,0]},{"month":"2026-03","value":null,"size":2,"retained":[2,null,null]}]}"#)
        let tz = try d.ask(#"{"op":"cohorts","# + Self.march + #","tz":"Europe/Atlantis"}"#)
        #expect(errorCodeOf(tz) == "bad_request")
        #expect(tz["error"]?["message"]?.stringValue?.contains(#""tz": unknown time zone "Europe/Atlantis""#) == true)
        #expect(errorCodeOf(try d.ask(#"{"op":"cohorts","# + Self.march + #","periods":0}"#)) == "bad_request")
        try d.stop()
    }

    @Test func trendsOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        let week = #""from":"2026-03-02T00:00:00Z","to":"2026-03-16T00:00:00Z","step":"touch","interval":"week""#
        let events = try d.ask(#"{"op":"trends","# + week + "}")
        #expect(object(events) == #"{"step":"touch","interval":"week","by":"none","unique":false,"buckets":["2026-03-02T00:00:00.000Z","2026-03-09T00:00:00.000Z"],"groups":[{"value":null,"counts":[5,3],"total":8}]}"#)
        let patients = try d.ask(#"{"op":"trends","# + week + #","unique":true}"#)
        #expect(object(patients).hasSuffix(#""groups":[{"value":null,"counts":[3,3],"total":4}]}"#))
        #expect(errorCodeOf(try d.ask(#"{"op":"trends","# + week + #","unique":"yes"}"#)) == "bad_request")
        try d.stop()
    }

    @Test func referralsOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        let r = try d.ask(#"{"op":"referrals","as_of":"2026-04-01T00:00:00Z"}"#)
        // Direct: p-1 (180.50) and p-4 (240.00), mean 210.25; referred: p-2 (95.00).
        #expect(object(r) == #"{"as_of":"2026-04-01T00:00:00.000Z","referrers":[{"patient":"p-1","referred":1,"converted":1,"revenue":95.00}],"summary":{"referred_patients":1,"direct_patients":2,"referred_avg_value":95.00,"direct_avg_value":210.25}}"#)
        #expect(errorCodeOf(try d.ask(#"{"op":"referrals","limit":0}"#)) == "bad_request")
        try d.stop()
    }

    @Test func segmentOp() throws {
        let d = try RunningDaemon()
        _ = try d.ask(appendRequest(marchPractice))
        let page1 = try d.ask(#"{"op":"segment","as_of":"2026-04-01T00:00:00Z","min_visits":1,"limit":2}"#)
        #expect(object(page1) == #"{"as_of":"2026-04-01T00:00:00.000Z","total":3,"patients":[{"patient":"p-1","stage":"active","risk":[],"visits":1,"last_visit_at":"2026-03-02T10:00:00.000Z","lifetime_value":180.50,"acquisition_channel":"web"},{"patient":"p-2","stage":"active","risk":[],"visits":1,"last_visit_at":"2026-03-12T15:00:00.000Z","lifetime_value":95.00,"acquisition_channel":"referral"}],"next":"p-2"}"#)
        let page2 = try d.ask(#"{"op":"segment","as_of":"2026-04-01T00:00:00Z","min_visits":1,"limit":2,"after":"p-2"}"#)
        #expect((page2["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p-4"])
        #expect(page2["total"]?.int64Value == 3 && page2["next"]?.isNull == true)
        let cancelled = try d.ask(#"{"op":"segment","as_of":"2026-04-01T00:00:00Z","stage":"booked","risk":["cancelled_not_rebooked"]}"#)
        #expect((cancelled["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p-3"])
        let value = try d.ask(#"{"op":"segment","as_of":"2026-04-01T00:00:00Z","min_value":"180.5","referred":false}"#)
        #expect((value["patients"]?.arrayValue ?? []).map { $0["patient"]?.stringValue } == ["p-1", "p-4"])
        let bad = try d.ask(#"{"op":"segment","min_visits":3,"max_visits":2}"#)
        #expect(errorCodeOf(bad) == "bad_request" && bad["error"]?["message"]?.stringValue?.hasPrefix(#""max_visits""#) == true)
        #expect(errorCodeOf(try d.ask(#"{"op":"segment","min_value":1.234}"#)) == "bad_request")
        try d.stop()
    }

    @Test(binaryNeeded) func commandLineJSONAndCSV() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/practice.ndjson"
        try (marchPractice.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try run(["import", file, "--data", dir.path + "/store"]).status == 0)
        let args = ["appointments", "--from", "2026-03-01T00:00:00Z", "--to", "1775001600000", "--by", "location",
                    "--data", dir.path + "/store"]
        let json = try run(args + ["--json"])
        #expect(json.status == 0)
        #expect(json.stdout.hasPrefix(#"{"from":"2026-03-01T00:00:00.000Z","to":"2026-04-01T00:00:00.000Z","by":"location","groups":[{"value":"north","appointments":2"#))
        let csv = try run(args + ["--csv"])
        #expect(csv.stdout == "location,appointments,visited,no_show,cancelled,open,no_show_rate,cancellation_rate,rebooked,rebook_rate,revenue\r\n"
            + "north,2,1,1,0,0,0.5,0,1,1,180.50\r\n"
            + "south,2,1,0,1,0,0,0.5,0,0,95.00\r\n")
        let table = try run(args)
        #expect(table.stdout.contains("50.0%") && table.stdout.contains("180.50"))
        let help = try run(["segment", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--min-visits N") && help.stdout.contains("--csv"))
        let bad = try run(["cohorts", "--from", "2026-03-01T00:00:00Z", "--to", "soon", "--data", dir.path + "/store"])
        #expect(bad.status == 2 && bad.stderr.contains("--to"))
    }
}
