import Testing
@testable import JourneyCore

// Segment Spec messages and the events SPEC §7 maps them to. 2026-03-01T10:00:00Z is
// 1772359200000 ms.

private let at = 1_772_359_200_000 as Int64

private func map(_ text: String, mapping: SegmentMapping = SegmentMapping(), callType: String? = nil,
                 receivedAt: Int64? = nil) throws -> MappedRecord {
    try mapping.map(JSONParser.parse(text), callType: callType, receivedAt: receivedAt)
}

private func rejection(_ text: String, callType: String? = nil) -> EventError? {
    do {
        _ = try map(text, callType: callType)
        return nil
    } catch let e as EventError {
        return e
    } catch {
        Issue.record("not an event error: \(error)")
        return nil
    }
}

private let campaign = #""context":{"campaign":{"name":"spring-recall","source":"google","medium":"cpc","term":"dentist near me","content":"ad-2"},"traits":{"email":"jane@example.com"},"ip":"203.0.113.9","userAgent":"Mozilla"}"#

@Suite("Segment mapping")
struct SegmentMappingTests {
    @Test func pageIsAWebVisitWithCampaignAndStringProperties() throws {
        let text = #"{"type":"page","name":"Home","category":"Site","anonymousId":"anon-1","messageId":"m1","timestamp":"2026-03-01T10:00:00.000Z","properties":{"path":"/","title":"Welcome","width":1280,"nested":{"a":"b"}},\#(campaign)}"#
        let r = try map(text)
        #expect(r.events == [Event(
            id: "m1", type: .webVisit, subject: "anon-1", at: at, source: "google", medium: "cpc",
            campaign: "spring-recall", term: "dentist near me",
            attrs: [.init(key: "category", value: "Site"), .init(key: "name", value: "Home"),
                    .init(key: "path", value: "/"), .init(key: "title", value: "Welcome")])])
    }

    @Test func userIdIsTheSubjectBeforeAnonymousId() throws {
        let text = #"{"type":"page","userId":"patient-1","anonymousId":"anon-1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z"}"#
        #expect(try map(text).events[0].subject == "patient-1")
    }

    @Test func identifyWithBothIdsLinksTheAnonymousIdAndKeepsNoTraits() throws {
        let text = #"{"type":"identify","userId":"patient-1","anonymousId":"anon-1","messageId":"m2","timestamp":"2026-03-01T10:00:00Z","traits":{"email":"jane@example.com","name":"Jane","phone":"555-0100"},\#(campaign)}"#
        let r = try map(text)
        #expect(r.events == [Event(id: "m2", type: .identify, subject: "anon-1", at: at, patient: "patient-1")])
        let json = EventJSON.encode(r.events[0])
        for secret in ["jane", "Jane", "555", "203.0.113", "Mozilla"] { #expect(!json.contains(secret)) }
    }

    @Test func identifyWithOneIdIsSkipped() throws {
        #expect(try map(#"{"type":"identify","userId":"p1","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#).skipped
            == "identify without anonymousId")
        #expect(try map(#"{"type":"identify","anonymousId":"a1","messageId":"m","timestamp":"2026-03-01T10:00:00Z","traits":{"x":"y"}}"#).skipped
            == "identify without userId")
    }

    @Test func aliasLinksThePreviousIdToTheUserId() throws {
        let r = try map(#"{"type":"alias","previousId":"anon-2","userId":"patient-1","messageId":"m3","timestamp":"2026-03-01T10:00:00Z"}"#)
        #expect(r.events == [Event(id: "m3", type: .identify, subject: "anon-2", at: at, patient: "patient-1")])
        #expect(rejection(#"{"type":"alias","userId":"patient-1","messageId":"m3","timestamp":"2026-03-01T10:00:00Z"}"#)?.field == "previousId")
    }

    @Test func trackMapsKnownNamesAndSchemaProperties() throws {
        let text = #"{"type":"track","event":"Appointment Booked","userId":"patient-1","messageId":"m4","timestamp":"2026-03-01T10:00:00+00:00","properties":{"appointment_id":4711,"scheduled_for":"2026-03-10T09:00:00Z","location":"Main Street","provider":"Dr. Lee","conversation":"c9","plan":"gold","revenue":99.5},\#(campaign)}"#
        let r = try map(text)
        #expect(r.events == [Event(
            id: "m4", type: .booking, subject: "patient-1", at: at, source: "google", medium: "cpc",
            campaign: "spring-recall", term: "dentist near me", conversation: "c9", appointment: "4711",
            scheduledFor: 1_773_133_200_000, location: "Main Street", provider: "Dr. Lee",
            attrs: [.init(key: "plan", value: "gold")])])
    }

    @Test func aVisitTakesItsAmountFromRevenue() throws {
        let text = #"{"type":"track","event":"Appointment Completed","userId":"p1","messageId":"m5","timestamp":"2026-03-01T10:00:00Z","properties":{"revenue":120.5}}"#
        #expect(try map(text).events[0].amountCents == 12050)
        let bad = #"{"type":"track","event":"Appointment Completed","userId":"p1","messageId":"m5","timestamp":"2026-03-01T10:00:00Z","properties":{"revenue":1.234}}"#
        #expect(rejection(bad)?.field == "properties.revenue")
    }

    @Test func defaultTableNames() throws {
        let expected: [(String, EventType)] = [
            ("Appointment Booked", .booking), ("Appointment Scheduled", .booking), ("Appointment Cancelled", .cancellation),
            ("Appointment Canceled", .cancellation), ("Appointment No Show", .noShow), ("Appointment Missed", .noShow),
            ("Appointment Completed", .visit), ("Appointment Attended", .visit), ("Form Submitted", .form),
            ("Contact Form Submitted", .form), ("Chat Started", .chat), ("Live Chat Started", .chat),
            ("Call Started", .call), ("Call Completed", .call), ("Email Sent", .messageSent), ("Email Opened", .messageOpened),
        ]
        #expect(SegmentEventMap.standard.types.count == expected.count)
        for (name, type) in expected { #expect(SegmentEventMap.standard.type(for: name) == type, "\(name)") }
        #expect(SegmentEventMap.standard.type(for: "appointment booked") == nil)
    }

    @Test func emailEventsTakeTheMessageIdFromEmailId() throws {
        let text = #"{"type":"track","event":"Email Opened","userId":"p1","messageId":"m6","timestamp":"2026-03-01T10:00:00Z","properties":{"email_id":"recall-7"}}"#
        #expect(try map(text).events[0].message == "recall-7")
        let missing = #"{"type":"track","event":"Email Opened","userId":"p1","messageId":"m6","timestamp":"2026-03-01T10:00:00Z"}"#
        #expect(rejection(missing)?.field == "message")
    }

    @Test func unknownTrackNamesAreSkippedByName() throws {
        let r = try map(#"{"type":"track","event":"Product Viewed","userId":"p1","messageId":"m7","timestamp":"2026-03-01T10:00:00Z"}"#)
        #expect(r.events.isEmpty)
        #expect(r.skipped == "track \"Product Viewed\"")
    }

    @Test func aSkippedNameIsCountedPrintably() throws {
        let r = try map(#"{"type":"track","event":"Evil\u001b[2J\u202eName","userId":"p1","messageId":"m7","timestamp":"2026-03-01T10:00:00Z"}"#)
        #expect(r.skipped == "track \"Evil?[2J?Name\"")
        let long = String(repeating: "n", count: 100)
        #expect(try map(#"{"type":"track","event":"\#(long)","userId":"p1","messageId":"m7"}"#, receivedAt: 1).skipped
            == "track \"\(String(repeating: "n", count: 64))\"")
    }

    @Test func aPracticeMapAddsOverridesAndRemovesNames() throws {
        let map2 = try SegmentEventMap.standard.merging(json: Array(#"{"Consult Requested":"form","Chat Started":"call","Form Submitted":null}"#.utf8))
        let m = SegmentMapping(eventMap: map2)
        func type(_ name: String) throws -> EventType? {
            try map(#"{"type":"track","event":"\#(name)","userId":"p1","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#, mapping: m).events.first?.type
        }
        #expect(try type("Consult Requested") == .form)
        #expect(try type("Chat Started") == .call)
        #expect(try type("Form Submitted") == nil)
        #expect(try type("Appointment Booked") == .booking)
    }

    @Test func aBadPracticeMapIsRefusedNamingTheEntry() {
        func error(_ json: String) -> EventError? {
            do { _ = try SegmentEventMap.standard.merging(json: Array(json.utf8)); return nil } catch { return error }
        }
        #expect(error(#"{"Consult":"consult"}"#)?.field == "Consult")
        #expect(error(#"{"Consult":"identify"}"#)?.code == .badValue)
        #expect(error(#"{"Consult":3}"#)?.code == .wrongType)
        #expect(error(#"["form"]"#)?.code == .wrongType)
    }

    @Test func screenAndGroupAreSkipped() throws {
        #expect(try map(#"{"type":"screen","userId":"p1","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#).skipped == "screen")
        #expect(try map(#"{"type":"group","userId":"p1","groupId":"g","messageId":"m","traits":{}}"#).skipped == "group")
    }

    @Test func requiredFieldsAreNamed() {
        #expect(rejection(#"{"type":"page","anonymousId":"a","timestamp":"2026-03-01T10:00:00Z"}"#)?.field == "messageId")
        #expect(rejection(#"{"type":"page","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#)?.field == "userId")
        #expect(rejection(#"{"type":"page","anonymousId":"a","messageId":"m"}"#)?.field == "timestamp")
        #expect(rejection(#"{"type":"track","anonymousId":"a","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#)?.field == "event")
        #expect(rejection(#"{"anonymousId":"a","messageId":"m"}"#)?.field == "type")
        #expect(rejection(#"{"type":"purchase","anonymousId":"a","messageId":"m"}"#)?.code == .badValue)
        #expect(rejection(#"{"type":"page","anonymousId":"a","messageId":"m","timestamp":"yesterday"}"#)?.code == .badTimestamp)
        // SPEC §1's limits hold, naming the message's field.
        let longID = String(repeating: "m", count: 65)
        #expect(rejection(#"{"type":"page","anonymousId":"a","messageId":"\#(longID)","timestamp":"2026-03-01T10:00:00Z"}"#)?.field == "messageId")
    }

    @Test func timeFallsBackToOriginalTimestampThenReceivedAtThenTheReceipt() throws {
        #expect(try map(#"{"type":"page","anonymousId":"a","messageId":"m","originalTimestamp":"2026-03-01T10:00:00Z"}"#).events[0].at == at)
        #expect(try map(#"{"type":"page","anonymousId":"a","messageId":"m","receivedAt":"2026-03-01T10:00:00Z"}"#).events[0].at == at)
        #expect(try map(#"{"type":"page","anonymousId":"a","messageId":"m"}"#, receivedAt: 42).events[0].at == 42)
    }

    @Test func anEndpointsCallMustMatchTheMessagesType() throws {
        #expect(try map(#"{"anonymousId":"a","messageId":"m","timestamp":"2026-03-01T10:00:00Z"}"#, callType: "page").events[0].type == .webVisit)
        #expect(rejection(#"{"type":"track","event":"Chat Started","anonymousId":"a","messageId":"m"}"#, callType: "page")?.field == "type")
    }

    @Test func attrsKeepAsManyPropertiesAsFitInKeyOrder() {
        // 20 entries of 61 bytes each (3 + 58): 16 are 976 bytes, within 1 KiB: the first 16 keys.
        let entries = (0..<20).map { (String(format2($0)), String(repeating: "v", count: 58)) }
        let attrs = SegmentMapping.fitting(entries)
        #expect(attrs.count == 16)
        #expect(attrs.first?.key == "k00")
        #expect(attrs.last?.key == "k15")
        // A value too long to fit is left out; smaller later ones still go in.
        let big = SegmentMapping.fitting([("a", String(repeating: "x", count: 1100)), ("b", "small")])
        #expect(big == [Event.Attr(key: "b", value: "small")])
    }
}

/// `k` and a two-digit number (`k07`).
private func format2(_ n: Int) -> String { n < 10 ? "k0\(n)" : "k\(n)" }
