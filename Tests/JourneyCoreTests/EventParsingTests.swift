import Testing
@testable import JourneyCore

/// A minimal valid event with `extra` members appended (`extra` starts with a comma).
private func event(_ extra: String = "", type: String = "web_visit") -> String {
    #"{"id":"e1","type":"\#(type)","subject":"s1","at":"2025-01-01T00:00:00Z"\#(extra)}"#
}

private func parse(_ text: String) throws(EventError) -> Event { try EventParser.parse(text) }

private func rejection(_ text: String) -> EventError? {
    do {
        _ = try EventParser.parse(text)
        return nil
    } catch {
        return error
    }
}

/// Asserts `text` is rejected with `code` naming `field`.
private func expectRejected(
    _ text: String, _ code: EventError.Code, field: String?, sourceLocation: SourceLocation = #_sourceLocation
) {
    let e = rejection(text)
    #expect(e != nil, "accepted: \(text)", sourceLocation: sourceLocation)
    #expect(e?.code == code, "\(e.map(String.init(describing:)) ?? "")", sourceLocation: sourceLocation)
    #expect(e?.field == field, "\(e.map(String.init(describing:)) ?? "")", sourceLocation: sourceLocation)
}

private func str(_ c: Character, _ n: Int) -> String { String(repeating: c, count: n) }

@Suite("Event parsing: structure")
struct EventStructureTests {
    @Test func minimalEvent() throws {
        let e = try parse(event())
        #expect(e == Event(id: "e1", type: .webVisit, subject: "s1", at: 1_735_689_600_000))
    }

    @Test func topLevelMustBeAnObject() {
        expectRejected("[1]", .wrongType, field: nil)
        expectRejected("\"x\"", .wrongType, field: nil)
        expectRejected("42", .wrongType, field: nil)
        expectRejected("{", .invalidJSON, field: nil)
        expectRejected("", .invalidJSON, field: nil)
        expectRejected("   ", .invalidJSON, field: nil)
    }

    @Test func trailingGarbageIsInvalidJSON() {
        expectRejected(event() + " x", .invalidJSON, field: nil)
        expectRejected(event() + "{}", .invalidJSON, field: nil)
        #expect(rejection("  " + event() + " \r\n") == nil)
    }

    @Test func unknownFieldIsNamed() {
        expectRejected(event(#","color":"red""#), .unknownField, field: "color")
        expectRejected(event(#","ID":"x""#), .unknownField, field: "ID")
        expectRejected(event(#","extra":{"a":1}"#), .unknownField, field: "extra")
    }

    @Test func nearMissFieldNamesAreUnknown() {
        for name in ["ad", "ix", "typo", "tyre", "agens", "attrz", "sourcf", "medius", "amounts", "statux", "subjecT",
                     "channe1", "concerns", "Campaign", "locatio_", "resolves", "referrex", "to_agenT", "directio",
                     "duration_", "to_channe", "appointmen", "conversatio", "scheduled_fo", "", "scheduled_for_"] {
            expectRejected(event(",\"\(name)\":null"), .unknownField, field: name)
        }
        expectRejected(event(type: "cal"), .badValue, field: "type")
        expectRejected(event(type: "chap"), .badValue, field: "type")
        expectRejected(event(#","channel":"smz""#), .badValue, field: "channel")
        expectRejected(event(#","channel":"""#), .badValue, field: "channel")
    }

    @Test func duplicateKeyIsAnError() {
        expectRejected(event(#","id":"e2""#), .duplicateKey, field: "id")
        expectRejected(event(#","source":"a","source":"b""#), .duplicateKey, field: "source")
        // A null still counts as the key being given.
        expectRejected(event(#","source":null,"source":"b""#), .duplicateKey, field: "source")
    }

    @Test func escapedKeysAndValuesAreDecoded() throws {
        let e = try parse(#"{"\u0069d":"e\u00e9","type":"call","subject":"a\"b","at":0}"#)
        #expect(e.id == "eé")
        #expect(e.subject == "a\"b")
        #expect(e.type == .call)
    }

    @Test func eventOver4KiBIsRejected() {
        let base = event()
        // Inner whitespace is part of the event's text; surrounding whitespace is not.
        let fits = "{" + str(" ", 4096 - base.utf8.count) + base.dropFirst()
        #expect(fits.utf8.count == 4096)
        #expect(rejection(fits) == nil)
        #expect(rejection("   " + fits + "   ") == nil)
        let over = "{ " + fits.dropFirst()
        expectRejected(over, .tooLarge, field: nil)
        #expect(rejection(over)?.reason == "event over 4 KiB")
    }

    @Test func missingRequiredFieldsAreNamed() {
        expectRejected(#"{"type":"call","subject":"s","at":0}"#, .missingField, field: "id")
        expectRejected(#"{"id":"e","subject":"s","at":0}"#, .missingField, field: "type")
        expectRejected(#"{"id":"e","type":"call","at":0}"#, .missingField, field: "subject")
        expectRejected(#"{"id":"e","type":"call","subject":"s"}"#, .missingField, field: "at")
        expectRejected("{}", .missingField, field: "id")
    }

    @Test func nullForARequiredFieldIsMissing() {
        expectRejected(#"{"id":null,"type":"call","subject":"s","at":0}"#, .missingField, field: "id")
        expectRejected(#"{"id":"e","type":"call","subject":"s","at":null}"#, .missingField, field: "at")
    }

    @Test func nullForAnOptionalFieldIsAbsent() throws {
        let e = try parse(event(#","source":null,"amount":null,"resolved":null,"attrs":null,"channel":null"#))
        #expect(e == Event(id: "e1", type: .webVisit, subject: "s1", at: 1_735_689_600_000))
    }

    @Test func wrongTypesAreNamed() {
        expectRejected(#"{"id":7,"type":"call","subject":"s","at":0}"#, .wrongType, field: "id")
        expectRejected(#"{"id":"e","type":true,"subject":"s","at":0}"#, .wrongType, field: "type")
        expectRejected(#"{"id":"e","type":"call","subject":["s"],"at":0}"#, .wrongType, field: "subject")
        expectRejected(event(#","at2":1"#), .unknownField, field: "at2")
        expectRejected(event(#","source":1"#), .wrongType, field: "source")
        expectRejected(event(#","source":{"a":"b"}"#), .wrongType, field: "source")
        expectRejected(event(#","resolved":"true""#), .wrongType, field: "resolved")
        expectRejected(event(#","resolved":1"#), .wrongType, field: "resolved")
        expectRejected(event(#","duration_s":"10""#), .wrongType, field: "duration_s")
        expectRejected(event(#","amount":"12.00""#), .wrongType, field: "amount")
        expectRejected(event(#","channel":3"#), .wrongType, field: "channel")
        expectRejected(event(#","attrs":[]"#), .wrongType, field: "attrs")
        expectRejected(event(#","attrs":"a=b""#), .wrongType, field: "attrs")
        expectRejected(event(#","scheduled_for":true"#), .wrongType, field: "scheduled_for")
    }

    @Test func errorDescriptionNamesLineFieldValueAndRule() {
        var e = rejection(#"{"id":"e","type":"call","subject":"s","at":"2026-13-01T00:00:00Z"}"#)
        e?.line = 12
        #expect(e?.description == #"line 12: field "at": bad timestamp "2026-13-01T00:00:00Z" (month out of range)"#)
        #expect(e?.code.rawValue == "bad_timestamp")
        var u = rejection(event(#","color":"red""#))
        u?.index = 3
        #expect(u?.description == #"event 3: field "color": unknown field (extra data belongs in attrs)"#)
    }

    @Test func errorAsJSON() {
        var e = rejection(event(#","duration_s":-1"#))
        e?.line = 4
        var w = JSONWriter()
        e?.write(into: &w)
        #expect(w.string == #"{"code":"bad_value","message":"line 4: field \"duration_s\": must be ≥ 0 \"-1\"","line":4,"index":null,"field":"duration_s","value":"-1","reason":"must be ≥ 0","detail":null}"#)
    }

    @Test func displayedValueIsTruncated() {
        let long = str("x", 300)
        let e = rejection(event(#","source":"\#(long)""#))
        #expect(e?.value == str("x", 80) + "…")
    }
}

@Suite("Event parsing: fields")
struct EventFieldTests {
    @Test func idLength() throws {
        #expect(try parse(#"{"id":"\#(str("a", 64))","type":"call","subject":"s","at":0}"#).id.count == 64)
        // 64 two-byte scalars: the limit counts characters, not bytes.
        #expect(try parse(#"{"id":"\#(str("é", 64))","type":"call","subject":"s","at":0}"#).id.unicodeScalars.count == 64)
        expectRejected(#"{"id":"\#(str("a", 65))","type":"call","subject":"s","at":0}"#, .tooLong, field: "id")
        expectRejected(#"{"id":"","type":"call","subject":"s","at":0}"#, .badValue, field: "id")
    }

    @Test func subjectLength() throws {
        #expect(try parse(#"{"id":"e","type":"call","subject":"\#(str("s", 128))","at":0}"#).subject.count == 128)
        expectRejected(#"{"id":"e","type":"call","subject":"\#(str("s", 129))","at":0}"#, .tooLong, field: "subject")
        expectRejected(#"{"id":"e","type":"call","subject":"","at":0}"#, .badValue, field: "subject")
    }

    @Test func everyTypeName() throws {
        let extras: [EventType: String] = [
            .messageSent: #","message":"m""#, .messageOpened: #","message":"m""#,
            .referral: #","referrer":"p""#, .identify: #","patient":"p""#, .eligibility: #","status":"pending""#,
            .unlink: #","patient":"p""#, .consent: #","channel":"sms","status":"granted""#,
        ]
        for t in EventType.allCases {
            #expect(try parse(event(extras[t] ?? "", type: t.name)).type == t)
        }
        expectRejected(event(type: "visited"), .badValue, field: "type")
        expectRejected(event(type: "Visit"), .badValue, field: "type")
    }

    @Test func timestampForms() throws {
        let iso = try parse(#"{"id":"e","type":"call","subject":"s","at":"2025-01-01T00:00:00Z"}"#)
        let epoch = try parse(#"{"id":"e","type":"call","subject":"s","at":1735689600000}"#)
        #expect(iso == epoch)
        #expect(iso.at == 1_735_689_600_000)
        #expect(try parse(event(#","scheduled_for":"2025-01-01T09:30:00.250+02:00""#)).scheduledFor == 1_735_716_600_250)
        #expect(try parse(event(#","scheduled_for":-1000"#)).scheduledFor == -1000)
        #expect(try parse(#"{"id":"e","type":"call","subject":"s","at":"2025-01-01T05:30:00+05:30"}"#).at == 1_735_689_600_000)
    }

    @Test func badTimestamps() {
        for bad in [
            #""2025-01-01T00:00:00""#,  // no offset
            #""2026-02-30T00:00:00Z""#,  // no such day
            #""2026-13-01T00:00:00Z""#,
            #""2025-01-01""#,
            #""yesterday""#,
            "1735689600000.0",  // a float
            "1.7e12",
            "253402300800000",  // year 10000
            "-62135596800001",  // year 0
            "123456789012345678901234567890",
        ] {
            expectRejected(#"{"id":"e","type":"call","subject":"s","at":\#(bad)}"#, .badTimestamp, field: "at")
            expectRejected(event(#","scheduled_for":\#(bad)"#), .badTimestamp, field: "scheduled_for")
        }
        #expect(rejection(#"{"id":"e","type":"call","subject":"s","at":253402300799999}"#) == nil)
        #expect(rejection(#"{"id":"e","type":"call","subject":"s","at":-62135596800000}"#) == nil)
    }

    @Test func channels() throws {
        for c in Channel.allCases {
            #expect(try parse(event(#","channel":"\#(c.name)""#)).channel == c)
            #expect(try parse(event(#","to_channel":"\#(c.name)""#, type: "handoff")).toChannel == c)
        }
        expectRejected(event(#","channel":"fax""#), .badValue, field: "channel")
        expectRejected(event(#","to_channel":"inperson""#), .badValue, field: "to_channel")
    }

    @Test func enums() throws {
        #expect(try parse(event(#","direction":"in""#, type: "call")).direction == .inbound)
        #expect(try parse(event(#","direction":"out""#, type: "call")).direction == .outbound)
        expectRejected(event(#","direction":"inbound""#, type: "call"), .badValue, field: "direction")
        for o in CallOutcome.allCases {
            #expect(try parse(event(#","outcome":"\#(o.name)""#, type: "call")).outcome == o)
        }
        expectRejected(event(#","outcome":"busy""#, type: "call"), .badValue, field: "outcome")
        for s in EligibilityStatus.allCases {
            #expect(try parse(event(#","status":"\#(s.name)""#, type: "eligibility")).status == s)
        }
        expectRejected(event(#","status":"approved""#, type: "eligibility"), .badValue, field: "status")
    }

    @Test func resolved() throws {
        #expect(try parse(event(#","resolved":true"#)).resolved == true)
        #expect(try parse(event(#","resolved":false"#)).resolved == false)
    }

    @Test func durationIsAWholeNonNegativeNumber() throws {
        #expect(try parse(event(#","duration_s":0"#, type: "call")).durationS == 0)
        #expect(try parse(event(#","duration_s":125"#, type: "call")).durationS == 125)
        expectRejected(event(#","duration_s":1.5"#), .badValue, field: "duration_s")
        expectRejected(event(#","duration_s":10.0"#), .badValue, field: "duration_s")
        expectRejected(event(#","duration_s":1e2"#), .badValue, field: "duration_s")
        expectRejected(event(#","duration_s":-1"#), .badValue, field: "duration_s")
        expectRejected(event(#","duration_s":99999999999999999999"#), .tooLarge, field: "duration_s")
    }

    @Test func amountIsStoredInCents() throws {
        func cents(_ lit: String) throws -> Int64? { try parse(event(#","amount":\#(lit)"#, type: "visit")).amountCents }
        #expect(try cents("120.5") == 12050)
        #expect(try cents("120.50") == 12050)
        #expect(try cents("0.07") == 7)
        #expect(try cents("7") == 700)
        #expect(try cents("0") == 0)
        #expect(try cents("1.230") == 123)  // trailing zeros beyond 2 places carry no value
        #expect(try cents("100000000000.00") == 10_000_000_000_000)
        expectRejected(event(#","amount":1.234"#), .badValue, field: "amount")
        expectRejected(event(#","amount":1.001"#), .badValue, field: "amount")
        expectRejected(event(#","amount":1e2"#), .badValue, field: "amount")
        expectRejected(event(#","amount":-1"#), .badValue, field: "amount")
        expectRejected(event(#","amount":-0.01"#), .badValue, field: "amount")
        expectRejected(event(#","amount":100000000000.01"#), .tooLarge, field: "amount")
        expectRejected(event(#","amount":123456789012345678901234567890"#), .tooLarge, field: "amount")
    }

    @Test func optionalStringsUpTo256() throws {
        let names = ["source", "medium", "campaign", "term", "agent", "conversation", "appointment",
                     "location", "provider", "message", "referrer", "patient", "to_agent"]
        let paths: [String: KeyPath<Event, String?>] = [
            "source": \.source, "medium": \.medium, "campaign": \.campaign, "term": \.term, "agent": \.agent,
            "conversation": \.conversation, "appointment": \.appointment, "location": \.location,
            "provider": \.provider, "message": \.message, "referrer": \.referrer, "patient": \.patient,
            "to_agent": \.toAgent,
        ]
        for n in names {
            #expect(try parse(event(#",""#+n+#"":"\#(str("x", 256))""#))[keyPath: paths[n]!]?.count == 256)
            #expect(try parse(event(#",""#+n+#"":"""#))[keyPath: paths[n]!] == "")
            expectRejected(event(#",""#+n+#"":"\#(str("x", 257))""#), .tooLong, field: n)
        }
    }

    @Test func concernUpTo500() throws {
        #expect(try parse(event(#","concern":"\#(str("ü", 500))""#)).concern?.unicodeScalars.count == 500)
        expectRejected(event(#","concern":"\#(str("c", 501))""#), .tooLong, field: "concern")
    }

    @Test func fieldsRequiredByType() {
        expectRejected(event(type: "message_sent"), .missingField, field: "message")
        expectRejected(event(type: "message_opened"), .missingField, field: "message")
        expectRejected(event(type: "referral"), .missingField, field: "referrer")
        expectRejected(event(type: "identify"), .missingField, field: "patient")
        expectRejected(event(type: "eligibility"), .missingField, field: "status")
        expectRejected(event(#","message":null"#, type: "message_sent"), .missingField, field: "message")
        expectRejected(event(#","message":"""#, type: "message_sent"), .badValue, field: "message")
        expectRejected(event(#","patient":"""#, type: "identify"), .badValue, field: "patient")
    }

    @Test func fieldsOfOtherTypesAreAcceptedAndStored() throws {
        let e = try parse(event(#","amount":5,"duration_s":3,"message":"m","status":"denied","to_channel":"sms""#))
        #expect(e.amountCents == 500)
        #expect(e.durationS == 3)
        #expect(e.message == "m")
        #expect(e.status == .denied)
        #expect(e.toChannel == .sms)
    }

    @Test func attrs() throws {
        let e = try parse(event(#","attrs":{"zeta":"1","alpha":"2","":"empty key"}"#))
        #expect(e.attrs == [.init(key: "", value: "empty key"), .init(key: "alpha", value: "2"), .init(key: "zeta", value: "1")])
        #expect(try parse(event(#","attrs":{}"#)).attrs.isEmpty)
        expectRejected(event(#","attrs":{"a":1}"#), .wrongType, field: "attrs")
        expectRejected(event(#","attrs":{"a":null}"#), .wrongType, field: "attrs")
        expectRejected(event(#","attrs":{"a":{"b":"c"}}"#), .wrongType, field: "attrs")
        expectRejected(event(#","attrs":{"a":"1","a":"2"}"#), .duplicateKey, field: "attrs")
        expectRejected(event(#","attrs":{"a":"1","\u0061":"2"}"#), .duplicateKey, field: "attrs")
        // Keys are bytes: a precomposed "é" and "e" + combining acute are two keys, whether or not
        // they sort next to each other (e\u0301 < f < é as bytes).
        let adjacent = try parse(event(#","attrs":{"\u00e9":"1","e\u0301":"2"}"#))
        #expect(adjacent.attrs.map(\.value) == ["2", "1"])
        let apart = try parse(event(#","attrs":{"\u00e9":"1","f":"3","e\u0301":"2"}"#))
        #expect(apart.attrs.map(\.value) == ["2", "3", "1"])
    }

    @Test func attrsLimits() throws {
        let sixteen = (0..<16).map { #""k\#($0)":"v""# }.joined(separator: ",")
        #expect(try parse(event(#","attrs":{\#(sixteen)}"#)).attrs.count == 16)
        expectRejected(event(#","attrs":{\#(sixteen),"k16":"v"}"#), .tooLarge, field: "attrs")
        // 1024 bytes of keys and values: "k" + 1023 bytes; one more is too many.
        #expect(try parse(event(#","attrs":{"k":"\#(str("v", 1023))"}"#)).attrs.count == 1)
        expectRejected(event(#","attrs":{"k":"\#(str("v", 1024))"}"#), .tooLarge, field: "attrs")
        // Bytes, not characters: 512 two-byte scalars + the key is 1025 bytes.
        expectRejected(event(#","attrs":{"k":"\#(str("é", 512))"}"#), .tooLarge, field: "attrs")
    }
}

@Suite("Event parsing: JSONValue path")
struct EventValidateTests {
    /// The byte parser and `validate(object:)` agree on every JSON-valid input.
    @Test func bothPathsAgree() throws {
        let inputs = [
            event(), event(#","amount":12.5,"attrs":{"b":"1","a":"2"}"#, type: "visit"),
            event(#","color":"red""#), event(#","amount":1.234"#), event(#","at2":null"#),
            event(type: "identify"), event(#","patient":"p""#, type: "identify"),
            #"{"id":"e","type":"call","subject":"s","at":"2026-02-30T00:00:00Z"}"#,
            #"{"id":"e","type":"call","subject":"s","at":1.5}"#,
            event(#","duration_s":-3"#), event(#","resolved":"yes""#), event(#","attrs":{"a":1}"#),
            "[1]", #"{"id":"","type":"call","subject":"s","at":0}"#, event(#","source":"\#(str("é", 257))""#),
        ]
        for text in inputs {
            let direct = Result { () throws(EventError) in try EventParser.parse(text) }
            let value = try JSONParser.parse(text)
            let viaValue = Result { () throws(EventError) in try EventParser.validate(object: value) }
            switch (direct, viaValue) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text)")
            case (.failure(let a), .failure(let b)):
                #expect(a.code == b.code && a.field == b.field, "\(text): \(a) vs \(b)")
            default: Issue.record("paths disagree on \(text): \(direct) vs \(viaValue)")
            }
        }
    }

    @Test func batchValidationCollectsEveryErrorWithItsIndex() throws {
        let batch = try JSONParser.parse("[\(event()), \(event(#","x":1"#)), 5, \(event(type: "visit"))]").arrayValue!
        let (events, errors) = EventParser.validate(batch: batch)
        #expect(events.count == 2)
        #expect(errors.map(\.index) == [1, 2])
        #expect(errors.map(\.code) == [.unknownField, .wrongType])
    }

    @Test func sizeLimitUsesCompactEncoding() throws {
        // Escaped, the text is over 4 KiB; compact (é as 2 bytes) it is 3,660 bytes, so it passes.
        let esc = String(repeating: "\\u00e9", count: 256)
        let fields = ["source", "medium", "campaign", "term", "agent", "conversation"].prefix(4)
            .map { #","\#($0)":"\#(esc)""# }.joined()
        let text = event(#","attrs":{"k":"\#(str("v", 1000))"},"concern":"\#(str("c", 500))""# + fields)
        #expect(text.utf8.count > 4096)
        #expect(rejection(text)?.code == .tooLarge)
        #expect(try EventParser.validate(object: JSONParser.parse(text)).term?.count == 256)
        // Two more such fields make even the compact form too large.
        let more = event(#","attrs":{"k":"\#(str("v", 1000))"},"concern":"\#(str("c", 500))""# +
            ["source", "medium", "campaign", "term", "agent", "conversation"].map { #","\#($0)":"\#(esc)""# }.joined())
        let value = try JSONParser.parse(more)
        #expect(throws: EventError.self) { try EventParser.validate(object: value) }
    }
}

@Suite("Event export JSON")
struct EventJSONTests {
    @Test func canonicalFormHasTableOrderAndOmitsAbsentFields() {
        let e = Event(
            id: "v1", type: .visit, subject: "p1", at: 1_735_689_600_000, channel: .inPerson,
            source: "google", agent: "staff:jdoe", resolved: true, durationS: 0, appointment: "ap1",
            scheduledFor: 1_735_689_600_250, amountCents: 12050, attrs: [.init(key: "z", value: "1"), .init(key: "a", value: "é\n")])
        #expect(EventJSON.encode(e) == #"{"id":"v1","type":"visit","subject":"p1","at":"2025-01-01T00:00:00.000Z","channel":"in_person","source":"google","agent":"staff:jdoe","resolved":true,"duration_s":0,"appointment":"ap1","scheduled_for":"2025-01-01T00:00:00.250Z","amount":120.50,"attrs":{"a":"é\n","z":"1"}}"#)
        let m = Event(id: "m", type: .messageSent, subject: "s", at: -1, amountCents: 5, message: "x", toChannel: .sms, status: .pending)
        #expect(EventJSON.encode(m) == #"{"id":"m","type":"message_sent","subject":"s","at":"1969-12-31T23:59:59.999Z","amount":0.05,"message":"x","to_channel":"sms","status":"pending"}"#)
    }

    @Test func everyFieldIsWrittenAndReadBack() throws {
        let e = Event(
            id: "id", type: .handoff, subject: "su", at: 1, channel: .chat, source: "so", medium: "me",
            campaign: "ca", term: "te", agent: "ag", conversation: "co", concern: "cn", resolved: false,
            direction: .outbound, durationS: 9, outcome: .voicemail, appointment: "ap", scheduledFor: 2,
            location: "lo", provider: "pr", amountCents: 1, message: "ms", referrer: "re", patient: "pa",
            toAgent: "ta", toChannel: .portal, status: .denied, attrs: [.init(key: "k", value: "v")])
        let text = EventJSON.encode(e)
        let keys = try JSONParser.parse(text).objectValue!.map(\.key)
        #expect(keys == EventField.allCases.map(\.name))
        #expect(try EventParser.parse(text) == e)
    }

    @Test func randomEventsRoundTrip() throws {
        var rng = ParsingRNG(seed: 42)
        var checked = 0
        for _ in 0..<2000 {
            let e = randomEvent(&rng)
            let text = EventJSON.encode(e)
            guard text.utf8.count <= EventLimits.maxEventBytes else { continue }
            #expect(try EventParser.parse(text) == e, "\(text)")
            #expect(try EventParser.validate(object: JSONParser.parse(text)) == e)
            checked += 1
        }
        #expect(checked > 1900)
    }
}

private let alphabet: [Unicode.Scalar] = ["a", "Z", "0", " ", "-", ":", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀", "\u{2028}", "\u{FEFF}"]

/// The alphabet an id may use: everything above but control, bidirectional and zero-width
/// characters (SPEC §1).
private let idAlphabet = alphabet.filter { IdCharacters.kind(of: $0.value) == nil }

private func randomString(_ rng: inout ParsingRNG, min: Int = 0, max: Int, from letters: [Unicode.Scalar] = alphabet) -> String {
    let n = min + Int(rng.next() % UInt64(max - min + 1))
    var s = String.UnicodeScalarView()
    for _ in 0..<n { s.append(letters[Int(rng.next() % UInt64(letters.count))]) }
    return String(s)
}

private func randomID(_ rng: inout ParsingRNG, min: Int = 1, max: Int) -> String {
    randomString(&rng, min: min, max: max, from: idAlphabet)
}

private func maybe<T>(_ rng: inout ParsingRNG, _ make: (inout ParsingRNG) -> T) -> T? {
    rng.next() % 3 == 0 ? make(&rng) : nil
}

private func randomEvent(_ rng: inout ParsingRNG) -> Event {
    let type = EventType.allCases[Int(rng.next() % UInt64(EventType.allCases.count))]
    func pick<T>(_ all: [T], _ rng: inout ParsingRNG) -> T { all[Int(rng.next() % UInt64(all.count))] }
    func s(_ rng: inout ParsingRNG) -> String { randomString(&rng, max: 12) }
    func time(_ rng: inout ParsingRNG) -> Int64 {
        Timestamp.minMs + Int64(rng.next() % UInt64(Timestamp.maxMs - Timestamp.minMs + 1))
    }
    var e = Event(
        id: randomID(&rng, max: 64), type: type, subject: randomID(&rng, max: 40),
        at: time(&rng), channel: maybe(&rng) { pick(Channel.allCases, &$0) }, source: maybe(&rng, s),
        medium: maybe(&rng, s), campaign: maybe(&rng, s), term: maybe(&rng, s), agent: maybe(&rng, s),
        conversation: maybe(&rng) { randomID(&$0, min: 0, max: 12) }, concern: maybe(&rng) { randomString(&$0, max: 200) },
        resolved: maybe(&rng) { $0.next() % 2 == 0 }, direction: maybe(&rng) { pick(Direction.allCases, &$0) },
        durationS: maybe(&rng) { Int64($0.next() % 100_000) }, outcome: maybe(&rng) { pick(CallOutcome.allCases, &$0) },
        appointment: maybe(&rng) { randomID(&$0, min: 0, max: 12) }, scheduledFor: maybe(&rng, time), location: maybe(&rng, s),
        provider: maybe(&rng, s), amountCents: maybe(&rng) { Int64($0.next() % UInt64(EventLimits.maxAmountCents + 1)) },
        message: maybe(&rng) { randomID(&$0, min: 0, max: 12) }, referrer: maybe(&rng) { randomID(&$0, min: 0, max: 12) }, patient: maybe(&rng) { randomID(&$0, min: 0, max: 12) }, toAgent: maybe(&rng, s),
        toChannel: maybe(&rng) { pick(Channel.allCases, &$0) }, status: maybe(&rng) { pick(EligibilityStatus.allCases, &$0) })
    switch type {
    case .messageSent, .messageOpened: e.message = randomID(&rng, max: 10)
    case .referral: e.referrer = randomID(&rng, max: 10)
    case .identify, .unlink: e.patient = randomID(&rng, max: 10)
    case .eligibility: e.status = pick(EligibilityStatus.allCases, &rng)
    case .consent:
        e.status = nil
        e.consentStatus = pick(ConsentStatus.allCases, &rng)
        e.channel = pick(Channel.allCases, &rng)
    default: break
    }
    var attrs: [Event.Attr] = []
    for i in 0..<Int(rng.next() % 17) {
        attrs.append(.init(key: "\(i)|" + randomString(&rng, max: 4), value: randomString(&rng, max: 10)))
    }
    e.attrs = attrs.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    return e
}
