import JourneyCore
import JourneyProtocol
import Testing

/// Every request encodes to a line that decodes to itself, and decoding refuses a bad request
/// with the code and message the daemon answered before the protocol had its own module.
@Suite struct RequestTests {
    static let events = [
        Event(id: "e1", type: .webVisit, subject: "anon-1", at: 1_767_225_600_000, channel: .web, source: "google"),
        Event(id: "e2", type: .call, subject: "anon-1", at: 1_767_225_660_000, agent: "bot:intake",
              conversation: "c-1", concern: "crown came loose", direction: .inbound, durationS: 90),
    ]

    static let requests: [Request] = [
        .append(AppendRequest(events: events)),
        .append(AppendRequest(events: events, onConflict: .rejectEvent)),
        .patient(PatientRequest(id: "p-1")),
        .patient(PatientRequest(id: "anon \"7f3a\"", asOf: 1_772_373_900_000)),
        .handoff(HandoffRequest(id: "p-1", asOf: 0)),
        .handoff(HandoffRequest(id: "p-2")),
        .funnel(FunnelRequest()),
        .funnel(FunnelRequest(steps: [.touch, .inquiry, .type(.booking), .type(.visit)], windowS: 86_400, by: .source,
                              from: 1_767_225_600_000, to: 1_772_373_900_000)),
        .funnel(FunnelRequest(steps: [.touch, .type(.call)], by: Breakdown.none)),
        .contacts,
        .atRisk(AtRiskRequest()),
        .atRisk(AtRiskRequest(asOf: 1_772_373_900_000, limit: 50, after: "p-120")),
        .subscribe(SubscribeRequest()),
        .subscribe(SubscribeRequest(from: 42)),
        .replay, .limits, .stats, .ping,
    ]

    @Test(arguments: requests) func encodesAndDecodesToItself(_ request: Request) throws {
        let line = request.line
        #expect(!line.contains(UInt8(ascii: "\n")))
        #expect(try Request.decode(line) == request)
        #expect(try Request.envelope(line).op == request.op)
    }

    @Test func encodesTheLinesClientsSent() {
        #expect(String(decoding: Request.ping.line, as: UTF8.self) == #"{"op":"ping"}"#)
        #expect(String(decoding: Request.stats.line, as: UTF8.self) == #"{"op":"stats"}"#)
        #expect(String(decoding: SubscribeRequest(from: 7).line, as: UTF8.self) == #"{"op":"subscribe","from":7}"#)
        #expect(String(decoding: PatientRequest(id: "p-1", asOf: 5).line, as: UTF8.self) == #"{"op":"patient","id":"p-1","as_of":5}"#)
        let append = String(decoding: AppendRequest(events: [Self.events[0]]).line, as: UTF8.self)
        #expect(append == #"{"op":"append","events":["# + EventJSON.encode(Self.events[0]) + "]}")
        let rejecting = String(decoding: AppendRequest(events: [Self.events[0]], onConflict: .rejectEvent).line, as: UTF8.self)
        #expect(rejecting.hasPrefix(#"{"op":"append","on_conflict":"reject_event","events":["#))
    }

    @Test func readsStepsGivenAsOneString() throws {
        let r = try Request.decode(Array(#"{"op":"funnel","steps":"touch,call,visit","by":"none"}"#.utf8))
        #expect(r == .funnel(FunnelRequest(steps: [.touch, .type(.call), .type(.visit)], by: Breakdown.none)))
        guard case .funnel(let f) = r else { return }
        #expect(try f.query().steps.count == 3)
    }

    @Test func readsTimesAsRFC3339OrEpochMilliseconds() throws {
        let a = try Request.decode(Array(#"{"op":"at_risk","as_of":"2026-03-01T14:05:00Z"}"#.utf8))
        let b = try Request.decode(Array(#"{"op":"at_risk","as_of":1772373900000}"#.utf8))
        #expect(a == b)
        #expect(a == .atRisk(AtRiskRequest(asOf: 1_772_373_900_000)))
    }

    @Test func ignoresMembersAnOpDoesNotUse() throws {
        #expect(try Request.decode(Array(#"{"op":"ping","extra":[1,2]}"#.utf8)) == .ping)
        #expect(try Request.decode(Array(#"{"op":"subscribe"}"#.utf8)) == .subscribe(SubscribeRequest(from: 1)))
    }

    /// The refusals, as the daemon answered them (DaemonTests, ServerTests, PipeliningTests).
    static let refusals: [(String, String, String)] = [
        ("not json at all", "invalid_json", "the request is not valid JSON: "),
        (#"{"op":"ping""#, "invalid_json", "the request is not valid JSON: "),
        (#"[1,2]"#, "bad_request", #"a request is a JSON object with an "op""#),
        (#"{"op":7}"#, "bad_request", #"the request has no "op" string"#),
        (#"{"op":"frobnicate"}"#, "unknown_op",
         #"unknown op "frobnicate"; ops are append, patient, handoff, funnel, contacts, at_risk, appointments, patients, cohorts, trends, referrals, segment, subscribe, signals, ack, replay, stats, ping, limits, audit, erase"#),
        (#"{"op":"erase","id":"p1"}"#, "bad_request", #"erase needs a "reason" (kept in the receipt; it must not name the patient)"#),
        (#"{"op":"erase","reason":"r"}"#, "bad_request", #"erase needs "id", a non-empty string"#),
        (#"{"op":"erase","id":"","reason":"r"}"#, "bad_request", #"erase needs "id", a non-empty string"#),
        (#"{"op":"patient"}"#, "bad_request", #"patient needs "id", a non-empty string"#),
        (#"{"op":"handoff","id":""}"#, "bad_request", #"handoff needs "id", a non-empty string"#),
        (#"{"op":"patient","id":"p","as_of":"yesterday"}"#, "bad_request", #""as_of" must be an RFC 3339 time or epoch milliseconds"#),
        (#"{"op":"funnel","steps":["touch","bogus"]}"#, "bad_request", #"unknown funnel step "bogus": use touch, inquiry, contact or an event type"#),
        (#"{"op":"funnel","steps":[1]}"#, "bad_request", #""steps" must be strings"#),
        (#"{"op":"funnel","steps":{}}"#, "bad_request", #""steps" must be an array of step names"#),
        (#"{"op":"funnel","window_s":-1}"#, "bad_request", #""window_s" must be ≥ 0"#),
        (#"{"op":"funnel","window_s":"1d"}"#, "bad_request", #""window_s" must be an integer"#),
        (#"{"op":"funnel","by":"colour"}"#, "bad_request",
         #"unknown breakdown "colour": use channel, source, medium, campaign, term, type, location, provider or none"#),
        (#"{"op":"at_risk","limit":0}"#, "bad_request", #""limit" must be 1 to 10000"#),
        (#"{"op":"at_risk","after":5}"#, "bad_request", #""after" must be a string"#),
        (#"{"op":"subscribe","from":0}"#, "bad_request", #""from" must be a position ≥ 1"#),
        (#"{"op":"append","events":[]}"#, "bad_request", #""events" is empty"#),
        (#"{"op":"append"}"#, "bad_request", #"append needs "events", an array of event objects"#),
        (#"{"op":"append","events":[{"id":"x3","type":"teleport","subject":"s","at":1}]}"#, "invalid_event", "event 0: "),
        (#"{"op":"append","on_conflict":"skip","events":[{"id":"x","type":"web_visit","subject":"s","at":1}]}"#,
         "bad_request", #""on_conflict" must be "fail_batch" or "reject_event""#),
    ]

    @Test(arguments: refusals) func refusesABadRequestAsTheDaemonDid(_ refusal: (String, String, String)) {
        let (line, code, message) = refusal
        do {
            let r = try Request.decode(Array(line.utf8))
            Issue.record("accepted \(line) as \(r)")
        } catch {
            #expect(error.code == code, "\(line)")
            if message.hasSuffix(": ") || message.hasPrefix("event") {
                #expect(error.message.contains(message), "\(line): \(error.message)")
            } else {
                #expect(error.message == message, "\(line)")
            }
        }
    }

    @Test func anInvalidEventNamesItsIndexFieldAndReason() {
        let line = #"{"op":"append","events":[{"id":"a","type":"web_visit","subject":"s","at":1},{"id":"b","type":"web_visit","subject":"s","at":1,"colour":"red"}]}"#
        #expect(throws: ProtocolError.self) { try Request.decode(Array(line.utf8)) }
        do {
            _ = try Request.decode(Array(line.utf8))
        } catch {
            #expect(error.code == "invalid_event")
            #expect(error.message.contains("event 1: "))
            #expect(error.message.contains("colour"))
        }
    }
}
