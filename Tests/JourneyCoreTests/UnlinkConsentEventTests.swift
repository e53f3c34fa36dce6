import Testing
@testable import JourneyCore

/// The `unlink` and `consent` event types: parsing on every path, the stored record, export.

private let head = #""id":"u1","subject":"anon-7","at":"2026-03-06T09:00:00Z""#

/// Parses `text` on the byte path and on the `JSONValue` path; both must agree.
private func parseBoth(_ text: String) throws -> Event {
    let e = try EventParser.parse(text)
    let v = try JSONParser().parse(Array(text.utf8))
    #expect(try EventParser.validate(object: v) == e)
    return e
}

/// Asserts `text` is refused with `code` naming `field`, on both parse paths and by the fast
/// record path (which declines it).
private func expectRefused(
    _ text: String, _ code: EventError.Code, field: String, reason: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var errors: [EventError] = []
    do { _ = try EventParser.parse(text) } catch { errors.append(error) }
    do {
        let v = try JSONParser().parse(Array(text.utf8))
        _ = try EventParser.validate(object: v)
    } catch let e as EventError { errors.append(e) } catch {
        Issue.record("not JSON: \(text)", sourceLocation: sourceLocation)
    }
    #expect(errors.count == 2, "accepted: \(text)", sourceLocation: sourceLocation)
    for e in errors {
        #expect(e.code == code && e.field == field, "\(e)", sourceLocation: sourceLocation)
        if let reason { #expect(e.reason.contains(reason), "\(e)", sourceLocation: sourceLocation) }
    }
    var out: [UInt8] = []
    let accepted = Array(text.utf8).withUnsafeBufferPointer { EventRecord.appendParsing($0, to: &out) }
    #expect(!accepted && out.isEmpty, "fast path accepted: \(text)", sourceLocation: sourceLocation)
}

/// The record of `text` by the fast path, which must equal the general path's.
private func record(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    var out: [UInt8] = []
    let accepted = Array(text.utf8).withUnsafeBufferPointer { EventRecord.appendParsing($0, to: &out) }
    #expect(accepted, "fast path declined: \(text)", sourceLocation: sourceLocation)
    let general = try EventRecord.encode(try EventParser.parse(text))
    #expect(out == general, sourceLocation: sourceLocation)
    return general
}

@Suite("Event types unlink and consent")
struct UnlinkConsentEventTests {
    @Test("unlink parses with its patient and is neither touch, inquiry nor contact")
    func unlinkParses() throws {
        let e = try parseBoth(#"{\#(head),"type":"unlink","patient":"p-1","agent":"staff:jdoe"}"#)
        #expect(e == Event(id: "u1", type: .unlink, subject: "anon-7", at: 1_772_787_600_000, agent: "staff:jdoe", patient: "p-1"))
        #expect(EventType(name: "unlink") == .unlink && EventType.unlink.name == "unlink")
        #expect(!EventType.unlink.isTouch && !EventType.unlink.isContact && !e.isInquiry)
        #expect(EventType.unlink.defaultChannel == nil && e.effectiveChannel == nil)
    }

    @Test("unlink without a patient, with an empty one or one holding a refused character is refused")
    func unlinkNeedsItsPatient() {
        expectRefused(#"{\#(head),"type":"unlink"}"#, .missingField, field: "patient", reason: "required for type unlink")
        expectRefused(#"{\#(head),"type":"unlink","patient":null}"#, .missingField, field: "patient")
        expectRefused(#"{\#(head),"type":"unlink","patient":""}"#, .badValue, field: "patient", reason: "must not be empty")
        expectRefused(#"{\#(head),"type":"unlink","patient":"p\u200B1"}"#, .badValue, field: "patient", reason: "zero-width")
        expectRefused(#"{\#(head),"type":"unlink","patient":"p\u00071"}"#, .badValue, field: "patient", reason: "control")
        expectRefused(#"{\#(head),"type":"unlink","patient":"p\u202E1"}"#, .badValue, field: "patient", reason: "bidirectional")
        expectRefused(#"{\#(head),"type":"unlink","patient":7}"#, .wrongType, field: "patient")
    }

    @Test("consent parses with its channel and each status, and is neither touch, inquiry nor contact")
    func consentParses() throws {
        for status in ConsentStatus.allCases {
            for channel in Channel.allCases {
                let e = try parseBoth(#"{\#(head),"type":"consent","channel":"\#(channel.name)","status":"\#(status.name)"}"#)
                #expect(e == Event(id: "u1", type: .consent, subject: "anon-7", at: 1_772_787_600_000, channel: channel, consentStatus: status))
                #expect(e.status == nil && e.effectiveChannel == channel)
            }
        }
        #expect(ConsentStatus(name: "granted") == .granted && ConsentStatus(name: "revoked") == .revoked)
        #expect(ConsentStatus(name: "verified") == nil)
        #expect(EventType(name: "consent") == .consent && !EventType.consent.isTouch && !EventType.consent.isContact)
        #expect(EventType.consent.defaultChannel == nil)
    }

    @Test("consent without a channel or status, or with a status of the other kind, is refused")
    func consentNeedsChannelAndStatus() {
        expectRefused(#"{\#(head),"type":"consent","status":"granted"}"#, .missingField, field: "channel", reason: "required for type consent")
        expectRefused(#"{\#(head),"type":"consent","channel":null,"status":"granted"}"#, .missingField, field: "channel")
        expectRefused(#"{\#(head),"type":"consent","channel":"sms"}"#, .missingField, field: "status", reason: "required for type consent")
        expectRefused(#"{\#(head),"type":"consent","channel":"sms","status":null}"#, .missingField, field: "status")
        for wrong in ["verified", "pending", "denied"] {
            expectRefused(#"{\#(head),"type":"consent","channel":"sms","status":"\#(wrong)"}"#, .badValue, field: "status",
                          reason: "must be granted or revoked")
            // The status first, the type after: the same answer.
            expectRefused(#"{"status":"\#(wrong)","channel":"sms",\#(head),"type":"consent"}"#, .badValue, field: "status")
        }
        expectRefused(#"{\#(head),"type":"consent","channel":"sms","status":"yes"}"#, .badValue, field: "status", reason: "unknown status")
        expectRefused(#"{\#(head),"type":"consent","channel":"fax","status":"granted"}"#, .badValue, field: "channel")
    }

    @Test("a consent status on any other type is refused; an eligibility status stays accepted on them")
    func consentStatusOnlyOnConsent() throws {
        for wrong in ["granted", "revoked"] {
            expectRefused(#"{\#(head),"type":"eligibility","status":"\#(wrong)"}"#, .badValue, field: "status",
                          reason: "is a consent status")
            expectRefused(#"{"status":"\#(wrong)",\#(head),"type":"eligibility"}"#, .badValue, field: "status")
            expectRefused(#"{\#(head),"type":"call","status":"\#(wrong)"}"#, .badValue, field: "status")
            expectRefused(#"{\#(head),"type":"unlink","patient":"p","status":"\#(wrong)"}"#, .badValue, field: "status")
        }
        expectRefused(#"{\#(head),"type":"eligibility","status":"approved"}"#, .badValue, field: "status", reason: "unknown status")
        #expect(try parseBoth(#"{\#(head),"type":"eligibility","status":"denied"}"#).status == .denied)
        #expect(try parseBoth(#"{\#(head),"type":"call","status":"pending"}"#).status == .pending)
    }

    @Test("both types round trip through the stored record, the fast path and export")
    func roundTrip() throws {
        let texts = [
            #"{\#(head),"type":"unlink","patient":"p-1"}"#,
            #"{\#(head),"type":"unlink","patient":"p-1","channel":"phone","agent":"staff:jdoe","attrs":{"why":"wrong caller"}}"#,
            #"{\#(head),"type":"consent","channel":"sms","status":"granted"}"#,
            #"{\#(head),"type":"consent","channel":"in_person","status":"revoked","conversation":"c-1"}"#,
        ]
        for text in texts {
            let e = try EventParser.parse(text)
            let bytes = try record(text)
            #expect(try EventRecord.decode(bytes) == e)
            try bytes.withUnsafeBytes { raw in
                let view = try EventView(validating: raw)
                #expect(view.type == e.type && view.status == nil && view.consentStatus == e.consentStatus)
                #expect(String(decoding: view.patient ?? .init(start: nil, count: 0), as: UTF8.self) == (e.patient ?? ""))
            }
            let exported = EventJSON.encode(e)
            #expect(try EventParser.parse(exported) == e)
            #expect(try record(exported) == bytes)
        }
        let consent = try EventParser.parse(texts[3])
        #expect(EventJSON.encode(consent) == #"{"id":"u1","type":"consent","subject":"anon-7","at":"2026-03-06T09:00:00.000Z","channel":"in_person","conversation":"c-1","status":"revoked"}"#)
    }

    @Test("the stored record: type byte 15 and 16, the consent status in the status byte as 3 or 4")
    func recordLayout() throws {
        let unlink = try EventRecord.encode(Event(id: "a", type: .unlink, subject: "s", at: 1, patient: "p"))
        #expect(Array(unlink[0..<10]) == [1, 15, 0, 0, 0, 0, 0, 0, 0, 0])
        let consent = try EventRecord.encode(Event(id: "a", type: .consent, subject: "s", at: 1, channel: .sms, consentStatus: .revoked))
        // flags: channel (bit 0) and status (bit 6); channel sms = 5; status byte 4.
        #expect(Array(consent[0..<10]) == [1, 16, 0x41, 0, 5, 0, 0, 0, 4, 0])
        // An eligibility record is as it always was: status byte 0-2.
        let eligibility = try EventRecord.encode(Event(id: "a", type: .eligibility, subject: "s", at: 1, status: .denied))
        #expect(Array(eligibility[0..<10]) == [1, 14, 0x40, 0, 0, 0, 0, 0, 2, 0])
    }

    @Test("a record whose status kind does not fit its type is corrupt; an event of that shape cannot be encoded")
    func statusKindChecked() throws {
        let good = try EventRecord.encode(Event(id: "a", type: .consent, subject: "s", at: 1, channel: .sms, consentStatus: .granted))
        for (offset, value, reason) in [(8, UInt8(1), "out of range"), (8, 5, "out of range"), (1, 14, "out of range"), (1, 17, "unknown event type")] {
            var bad = good
            bad[offset] = value
            #expect(throws: EventRecord.DecodeError.self) { try EventRecord.decode(bad) }
            bad.withUnsafeBytes { raw in
                #expect(EventView.wellFormedTableStart(raw) == nil)
                do throws(EventRecord.DecodeError) {
                    _ = try EventView.check(raw)
                    Issue.record("accepted a corrupt record")
                } catch {
                    #expect(error.reason.contains(reason), "\(error)")
                }
            }
        }
        #expect(throws: EventRecord.EncodeError.self) {
            try EventRecord.encode(Event(id: "a", type: .consent, subject: "s", at: 1, channel: .sms, status: .verified))
        }
        #expect(throws: EventRecord.EncodeError.self) {
            try EventRecord.encode(Event(id: "a", type: .eligibility, subject: "s", at: 1, consentStatus: .granted))
        }
    }

    @Test("fact records of types from 15 on carry their type in a second byte, and are found by type")
    func factRecordsOfExtendedTypes() throws {
        var p = Projector()
        let t: Int64 = 1_772_787_600_000
        p.apply(Event(id: "c1", type: .call, subject: "a", at: t))
        p.apply(Event(id: "u1", type: .unlink, subject: "a", at: t + 1, patient: "b"))
        p.apply(Event(id: "k1", type: .consent, subject: "a", at: t + 2, channel: .search, consentStatus: .revoked))
        p.apply(Event(id: "k0", type: .consent, subject: "a", at: t - 1, channel: .sms, consentStatus: .granted))
        p.apply(Event(id: "e1", type: .eligibility, subject: "a", at: t + 3, status: .verified))
        // The unlink names b, which is then an id of its own cluster; a stays apart (no link).
        #expect(p.canonicalId(of: "b") == "b" && p.canonicalId(of: "a") == "a")
        let c = p.clusters[Int(p.root(of: "a")!)]
        #expect(c.facts.map(\.type) == [.consent, .call, .unlink, .consent, .eligibility])
        var consents: [Fact] = []
        c.forEachFact(ofType: .consent) { consents.append($0) }
        #expect(consents.map(\.at) == [t - 1, t + 2])
        #expect(consents.map(\.status) == [ConsentStatus.granted.rawValue, ConsentStatus.revoked.rawValue])
        #expect(consents.map(\.channel) == [Channel.sms.rawValue, Channel.search.rawValue])
        var unlinks: [Fact] = []
        c.forEachFact(ofType: .unlink) { unlinks.append($0) }
        #expect(unlinks.count == 1 && p.ids[unlinks[0].subject] == "a" && p.ids[unlinks[0].other] == "b")
        var eligibility: [Fact] = []
        c.forEachFact(ofType: .eligibility) { eligibility.append($0) }
        #expect(eligibility.map(\.status) == [EligibilityStatus.verified.rawValue])
        var searchHits = 0
        c.forEachFact(ofType: .searchHit) { _ in searchHits += 1 }
        #expect(searchHits == 0)
        // Neither type is a touch: the journey counts them but has no touch.
        let j = try #require(p.patient(id: "a", asOf: t + 10))
        #expect(j.counts[Int(EventType.consent.rawValue)] == 2 && j.counts[Int(EventType.unlink.rawValue)] == 1)
        #expect(j.firstTouch?.type == .call && j.lastTouch?.type == .call)
    }
}
