import Testing
@testable import JourneyCore

/// A small deterministic generator, so failures reproduce.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomString(_ rng: inout SplitMix, max: Int = 20) -> String {
    let alphabet = Array("abcXYZ019-_:é🙂 ")
    let n = Int.random(in: 0...max, using: &rng)
    return String((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
}

private func maybe<T>(_ rng: inout SplitMix, _ make: (inout SplitMix) -> T) -> T? {
    Bool.random(using: &rng) ? make(&rng) : nil
}

private func randomEvent(_ rng: inout SplitMix) -> Event {
    let attrCount = Int.random(in: 0...3, using: &rng)
    var keys = Set<String>()
    while keys.count < attrCount { keys.insert("k" + randomString(&rng, max: 6)) }
    var e = Event(
        id: "id-" + randomString(&rng), type: EventType.allCases.randomElement(using: &rng)!,
        subject: "s" + randomString(&rng), at: Int64.random(in: Int64.min...Int64.max, using: &rng),
        channel: maybe(&rng) { Channel.allCases.randomElement(using: &$0)! },
        source: maybe(&rng) { randomString(&$0) }, medium: maybe(&rng) { randomString(&$0) },
        campaign: maybe(&rng) { randomString(&$0) }, term: maybe(&rng) { randomString(&$0) },
        agent: maybe(&rng) { randomString(&$0) }, conversation: maybe(&rng) { randomString(&$0) },
        concern: maybe(&rng) { randomString(&$0, max: 200) }, resolved: maybe(&rng) { Bool.random(using: &$0) },
        direction: maybe(&rng) { Direction.allCases.randomElement(using: &$0)! },
        durationS: maybe(&rng) { Int64.random(in: 0...100_000, using: &$0) },
        outcome: maybe(&rng) { CallOutcome.allCases.randomElement(using: &$0)! },
        appointment: maybe(&rng) { randomString(&$0) },
        scheduledFor: maybe(&rng) { Int64.random(in: -1...Int64.max, using: &$0) },
        location: maybe(&rng) { randomString(&$0) }, provider: maybe(&rng) { randomString(&$0) },
        amountCents: maybe(&rng) { Int64.random(in: 0...10_000_000, using: &$0) },
        message: maybe(&rng) { randomString(&$0) }, referrer: maybe(&rng) { randomString(&$0) },
        patient: maybe(&rng) { randomString(&$0) }, toAgent: maybe(&rng) { randomString(&$0) },
        toChannel: maybe(&rng) { Channel.allCases.randomElement(using: &$0)! },
        status: maybe(&rng) { EligibilityStatus.allCases.randomElement(using: &$0)! },
        attrs: keys.map { Event.Attr(key: $0, value: randomString(&rng)) })
    // A consent's status is of the other kind (the record keeps both in one byte).
    if e.type == .consent, e.status != nil {
        e.status = nil
        e.consentStatus = ConsentStatus.allCases.randomElement(using: &rng)!
    }
    return e
}

private func string(_ b: UnsafeRawBufferPointer?) -> String? {
    b.map { String(decoding: $0, as: UTF8.self) }
}

/// Decodes `bytes` as a view and as a full event; the outcome must be "threw" or "both agree".
private func decodeOrThrow(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
        guard let view = try? EventView(validating: raw) else { return false }
        // A record that validates must be readable through every accessor without a crash.
        _ = (view.type, view.at, view.channel, view.effectiveChannel, view.isInquiry, view.resolved)
        _ = (view.direction, view.outcome, view.toChannel, view.status, view.durationS)
        _ = (view.scheduledFor, view.amountCents)
        for f in EventRecord.StringField.allCases { _ = view.bytes(f) }
        view.forEachAttr { _, _ in }
        _ = try? view.event()
        return true
    }
}

/// The record of `{"id":"a","type":"call","subject":"p","at":258,"duration_s":7}`, by hand:
/// header 20 + one int 8 + table 32 + "a" + "p" = 62 bytes.
func expectMinimalLayout(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(bytes.count == 62, sourceLocation: sourceLocation)
    #expect(Array(bytes[0..<4]) == [1, 2, 0, 1], sourceLocation: sourceLocation)
    #expect(Array(bytes[10..<14]) == [0b11, 0, 0x02, 0x01], sourceLocation: sourceLocation)
    #expect(bytes[20] == 7, sourceLocation: sourceLocation)
    // id ends at 61, subject at 62, then every other field is empty at 62.
    #expect(Array(bytes[28..<32]) == [61, 0, 62, 0], sourceLocation: sourceLocation)
    #expect(Array(bytes[58..<60]) == [62, 0], sourceLocation: sourceLocation)
    #expect(Array(bytes[60...]) == [UInt8(ascii: "a"), UInt8(ascii: "p")], sourceLocation: sourceLocation)
}

@Suite("EventRecord codec")
struct CodecTests {
    @Test("a minimal event has the documented layout")
    func minimalLayout() throws {
        let e = Event(id: "a", type: .call, subject: "p", at: 0x0102, durationS: 7)
        let bytes = try EventRecord.encode(e)
        expectMinimalLayout(bytes)
        #expect(try EventRecord.decode(bytes) == e)
    }

    @Test("random events round trip, and view accessors equal the full decode")
    func roundTrip() throws {
        var rng = SplitMix(state: 42)
        for _ in 0..<2000 {
            let e = randomEvent(&rng)
            let bytes = try EventRecord.encode(e)
            #expect(try EventRecord.decode(bytes) == e)
            try bytes.withUnsafeBytes { raw in
                let v = try EventView(validating: raw)
                #expect(v.type == e.type && v.at == e.at && v.channel == e.channel)
                #expect(v.effectiveChannel == e.effectiveChannel && v.isInquiry == e.isInquiry)
                #expect(v.resolved == e.resolved && v.direction == e.direction && v.outcome == e.outcome)
                #expect(v.durationS == e.durationS && v.scheduledFor == e.scheduledFor)
                #expect(v.amountCents == e.amountCents && v.toChannel == e.toChannel && v.status == e.status)
                #expect(string(v.id) == e.id && string(v.subject) == e.subject)
                #expect(string(v.source) == e.source && string(v.medium) == e.medium)
                #expect(string(v.campaign) == e.campaign && string(v.term) == e.term)
                #expect(string(v.agent) == e.agent && string(v.conversation) == e.conversation)
                #expect(string(v.concern) == e.concern && string(v.appointment) == e.appointment)
                #expect(string(v.location) == e.location && string(v.provider) == e.provider)
                #expect(string(v.message) == e.message && string(v.referrer) == e.referrer)
                #expect(string(v.patient) == e.patient && string(v.toAgent) == e.toAgent)
                var attrs: [Event.Attr] = []
                v.forEachAttr { attrs.append(Event.Attr(key: string($0)!, value: string($1)!)) }
                #expect(attrs == e.attrs)
            }
        }
    }

    @Test("absent and empty strings are distinct")
    func absentVersusEmpty() throws {
        let e = Event(id: "x", type: .webVisit, subject: "y", at: 1, source: "", medium: nil)
        let bytes = try EventRecord.encode(e)
        bytes.withUnsafeBytes { raw in
            let v = try! EventView(validating: raw)
            #expect(v.source?.count == 0)
            #expect(v.medium == nil)
        }
        #expect(try EventRecord.decode(bytes).source == "")
    }

    @Test("equal events encode to equal bytes whatever the attribute order")
    func canonical() throws {
        let a = Event(id: "1", type: .form, subject: "s", at: 5,
                      attrs: [.init(key: "b", value: "2"), .init(key: "a", value: "1")])
        let b = Event(id: "1", type: .form, subject: "s", at: 5,
                      attrs: [.init(key: "a", value: "1"), .init(key: "b", value: "2")])
        #expect(try EventRecord.encode(a) == EventRecord.encode(b))
    }

    @Test("every truncation of a valid record throws")
    func truncations() throws {
        var rng = SplitMix(state: 7)
        for _ in 0..<50 {
            let bytes = try EventRecord.encode(randomEvent(&rng))
            for n in 0..<bytes.count {
                #expect(!decodeOrThrow(Array(bytes[0..<n])), "prefix \(n) of \(bytes.count) accepted")
            }
            #expect(decodeOrThrow(bytes))
            #expect(!decodeOrThrow(bytes + [0]), "trailing byte accepted")
        }
    }

    @Test("random byte mutations never crash")
    func mutations() throws {
        var rng = SplitMix(state: 99)
        var rejected = 0
        for i in 0..<5000 {
            var bytes = try EventRecord.encode(randomEvent(&rng))
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if i % 2 == 0 {
                // Mutate the structural part more often: that is where crashes would hide.
                bytes[Int.random(in: 0..<min(bytes.count, 70), using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
            if !decodeOrThrow(bytes) { rejected += 1 }
        }
        // Most mutations of structure must be caught; some land in string bytes and still decode.
        #expect(rejected > 1000)
    }

    @Test("a record's fact header, read from its bytes, is the one the event's accessors give")
    func factHeaderFromBytesMatchesAccessors() throws {
        for t in EventType.allCases {
            let d = UInt8(truncatingIfNeeded: EventView.defaultChannels >> UInt64(4 * FactRecord.typeBits(t.rawValue))) & 0xF
            #expect(d == (t.defaultChannel?.rawValue ?? 0xF), "default channel of \(t)")
        }
        var rng = SplitMix(state: 77)
        var withChannelBit = 0, inquiries = 0, resolved = 0
        for i in 0..<3000 {
            var e = randomEvent(&rng)
            // Handoffs and calls often: their channel and inquiry rules have extra cases.
            if i % 3 == 0 {
                e.type = i % 2 == 0 ? .handoff : .call
                e.consentStatus = nil
            }
            let bytes = try EventRecord.encode(e)
            try bytes.withUnsafeBytes { raw in
                let view = try EventView(validating: raw)
                let fast = view.factHeader, slow = e.headerFromAccessors
                #expect(fast.header == slow.header && fast.channel == slow.channel, "event \(i): \(e)")
                #expect(view.headerFromAccessors.header == slow.header, "event \(i)")
                if slow.header & FactRecord.channelBit != 0 { withChannelBit += 1 }
                if slow.header & FactRecord.inquiryBit != 0 { inquiries += 1 }
                if slow.header & FactRecord.resolvedBit != 0 { resolved += 1 }
            }
        }
        #expect(withChannelBit > 300 && inquiries > 300 && resolved > 300)
    }

    @Test("absent-field bits spread to whole 16-bit lanes, for every four-bit pattern")
    func absentLanesSpreadEachBit() {
        for a in UInt64(0)..<16 {
            var expected: UInt64 = 0
            for k in 0..<4 where a & (1 << UInt64(k)) != 0 { expected |= 0xFFFF << UInt64(16 * k) }
            #expect(EventView.absentLanes(a) == expected, "bits \(a)")
            #expect(EventView.absentLanes(a | 0xF0) == expected, "bits above the four ignored")
        }
    }

    @Test("the one-pass record check accepts exactly what the step-by-step check accepts")
    func quickCheckAgrees() throws {
        var rng = SplitMix(state: 2024)
        var accepted = 0, rejected = 0
        // Records over 32 KiB take the other path of the one-pass check.
        var long = randomEvent(&rng)
        long.concern = String(repeating: "x", count: 33_000)
        let longBytes = try EventRecord.encode(long)
        for i in 0..<1500 {
            var bytes = i % 50 == 0 ? longBytes : try EventRecord.encode(randomEvent(&rng))
            if i % 5 != 0 {
                // Structure first (header, integers, offset table), where the two checks differ in method.
                bytes[Int.random(in: 0..<min(bytes.count, 80), using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
            bytes.withUnsafeBytes { raw in
                let quick = EventView.wellFormedTableStart(raw)
                let full = try? EventView.check(raw)
                if quick != full {
                    Issue.record("record \(i): one-pass \(String(describing: quick)), step-by-step \(String(describing: full))")
                }
                if full == nil { rejected += 1 } else { accepted += 1 }
            }
        }
        // Both outcomes must occur often, or the comparison shows little.
        #expect(accepted > 300 && rejected > 300)
    }

    @Test("specific corruptions are rejected with a reason")
    func specificCorruptions() throws {
        let good = try EventRecord.encode(Event(id: "a", type: .call, subject: "p", at: 1))
        func reject(_ mutate: (inout [UInt8]) -> Void, _ reasonPart: String) {
            var b = good
            mutate(&b)
            #expect(throws: EventRecord.DecodeError.self) { try EventRecord.decode(b) }
            do { _ = try EventRecord.decode(b) } catch { #expect(error.reason.contains(reasonPart), "\(error)") }
        }
        reject({ $0[0] = 2 }, "version")
        reject({ $0[1] = 17 }, "type")  // the first raw value past `consent`
        reject({ $0[2] = 1; $0[4] = 10 }, "out of range")
        reject({ $0[4] = 3 }, "absent")
        reject({ $0[10] = 1 }, "subject")
        reject({ $0[20] = 200 }, "out of bounds")
        reject({ $0[9] = 1 }, "attribute")
        reject({ $0[$0.count - 1] = 0xFF }, "UTF-8")
    }

    @Test("an event whose strings exceed 64 KiB is refused, leaving the buffer intact")
    func tooLarge() {
        let e = Event(id: "a", type: .chat, subject: "s", at: 0, concern: String(repeating: "x", count: 70_000))
        var out: [UInt8] = [9, 9]
        #expect(throws: EventRecord.EncodeError.self) { try EventRecord.encode(e, into: &out) }
        #expect(out == [9, 9])
    }

    /// A record found by fuzzing (scripts/fuzz record): a valid web_visit record whose first
    /// attribute key had one bit flipped ("k\u{1}" → "{\u{1}"), so the keys are out of order. It
    /// used to decode to an event whose attrs `Event` re-sorts, which re-encodes to other bytes.
    @Test("a record with attribute keys out of order is rejected")
    func attributeKeysOutOfOrder() {
        let record: [UInt8] = [
            0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x5B, 0x9E, 0x49, 0xA9,
            0x9C, 0x01, 0x00, 0x00, 0x36, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00,
            0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00, 0x3F, 0x00,
            0x3F, 0x00, 0x3F, 0x00, 0x65, 0x33, 0x61, 0x6E, 0x6F, 0x6E, 0x2D, 0x37, 0x66, 0x33, 0x61, 0x02,
            0x00, 0x02, 0x00, 0x7B, 0x01, 0x76, 0x0A, 0x04, 0x00, 0x05, 0x00, 0x70, 0x61, 0x67, 0x65, 0x2F,
            0x62, 0x6F, 0x6F, 0x6B, 0x02, 0x00, 0x0B, 0x00, 0x75, 0x61, 0x4D, 0x6F, 0x7A, 0x69, 0x6C, 0x6C,
            0x61, 0x2F, 0x35, 0x2E, 0x30,
        ]
        #expect(throws: EventRecord.DecodeError(offset: 71, reason: "attribute keys out of order or repeated")) {
            try EventRecord.decode(record)
        }
    }

    @Test("a record with an attribute key repeated is rejected")
    func attributeKeyRepeated() throws {
        let good = try EventRecord.encode(Event(id: "a", type: .call, subject: "p", at: 1,
                                                attrs: [.init(key: "k", value: "1"), .init(key: "l", value: "2")]))
        #expect(try EventRecord.decode(good).attrs.map(\.key) == ["k", "l"])
        var repeated = good
        repeated[repeated.count - 2] = UInt8(ascii: "k")  // the second key, "l" → "k"
        #expect(throws: EventRecord.DecodeError(offset: good.count - 6, reason: "attribute keys out of order or repeated")) {
            try EventRecord.decode(repeated)
        }
    }

    @Test("an event with an attribute key repeated cannot be encoded")
    func encodeRepeatedKey() {
        let e = Event(id: "a", type: .call, subject: "p", at: 1, attrs: [.init(key: "k", value: "1"), .init(key: "k", value: "2")])
        var out: [UInt8] = [9]
        #expect(throws: EventRecord.EncodeError(reason: "attribute key \"k\" repeated")) { try EventRecord.encode(e, into: &out) }
        #expect(out == [9])
    }
}
