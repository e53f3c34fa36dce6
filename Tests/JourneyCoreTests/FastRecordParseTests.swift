import Testing
@testable import JourneyCore

/// `EventRecord.appendParsing` (an event's text straight to its record) against the general
/// path, `EventParser.parse` then `EventRecord.encode`.

/// The fast path's record for `text`, or nil when it declines.
private func fast(_ text: String) -> [UInt8]? {
    var out: [UInt8] = [0xAA]  // a record before it, which must stay as it is
    let ok = Array(text.utf8).withUnsafeBufferPointer { EventRecord.appendParsing($0, to: &out) }
    #expect(out.first == 0xAA)
    if !ok {
        #expect(out.count == 1, "a declined text left bytes behind: \(text)")
        return nil
    }
    return Array(out.dropFirst())
}

/// The general path's record for `text`, or nil when it rejects it.
private func general(_ text: String) -> [UInt8]? {
    guard let e = try? EventParser.parse(text) else { return nil }
    return try? EventRecord.encode(e)
}

private let base = #""id":"e1","type":"call","subject":"p-1","at":"2026-02-01T10:00:00.000Z""#

@Suite("Fast record parsing")
struct FastRecordParseTests {
    @Test("a minimal event gives the documented layout")
    func minimalLayout() throws {
        let bytes = try #require(fast(#"{"id":"a","type":"call","subject":"p","at":258,"duration_s":7}"#))
        expectMinimalLayout(bytes)
    }

    @Test("every field, attributes out of order: the general path's bytes")
    func everyField() throws {
        let text = #"{"id":"e-9","type":"handoff","subject":"anon-1","at":"2026-02-01T10:00:00+01:00","channel":"chat","#
            + #""source":"google","medium":"cpc","campaign":"c","term":"t","agent":"a1","conversation":"cv","#
            + #""concern":"pain","resolved":false,"direction":"out","duration_s":0,"outcome":"missed","#
            + #""appointment":"ap","scheduled_for":1735689600000,"location":"loc","provider":"dr","amount":12.5,"#
            + #""message":"m","referrer":"r","patient":"p-1","to_agent":"a2","to_channel":"phone","status":"denied","#
            + #""attrs":{"zeta":"1","alpha":"2","mid":""}}"#
        let bytes = try #require(fast(text))
        #expect(bytes == general(text))
        let e = try EventRecord.decode(bytes)
        // 2026-02-01 is day 20485 (56 years with 14 leap days, then 31 days); 10:00+01:00 is 09:00Z.
        #expect(e.at == 20485 * 86_400_000 + 9 * 3_600_000)
        #expect(e.amountCents == 1250 && e.durationS == 0 && e.resolved == false && e.direction == .outbound)
        #expect(e.attrs.map(\.key) == ["alpha", "mid", "zeta"])
        #expect(e.toChannel == .phone && e.status == .denied && e.scheduledFor == 1_735_689_600_000)
    }

    @Test("accepted texts give exactly the general path's record", arguments: [
        "{\(base)}",
        "  {\(base)}\t ",
        "{ \"at\" : 1769940000000 , \"subject\":\"p-1\",\"type\":\"call\",\"id\":\"e1\" }",
        "{\(base),\"channel\":null,\"attrs\":null,\"resolved\":true}",
        "{\(base),\"attrs\":{}}",
        "{\(base),\"source\":\"\",\"agent\":\"é🙂\"}",
        "{\(base),\"amount\":0.000}",
        "{\(base),\"amount\":-0}",
        #"{"id":"m","type":"message_sent","subject":"s","at":0,"message":"hi"}"#,
        #"{"id":"m","type":"eligibility","subject":"s","at":-62135596800000,"status":"verified"}"#,
        #"{"id":"m","type":"identify","subject":"s","at":"2026-02-01 10:00:00.123456z","patient":"p"}"#,
    ])
    func acceptedTexts(text: String) throws {
        let bytes = try #require(fast(text), "declined: \(text)")
        #expect(bytes == general(text))
    }

    @Test("texts with escapes are declined, though valid", arguments: [
        "{\(base),\"source\":\"a\\\"b\"}",
        "{\(base),\"attrs\":{\"k\\u0041\":\"v\"}}",
        "{\"i\\u0064\":\"e1\",\"type\":\"call\",\"subject\":\"p\",\"at\":0}",
    ])
    func escapesDecline(text: String) {
        #expect(fast(text) == nil)
        #expect(general(text) != nil)
    }

    @Test("every invalid event is declined", arguments: [
        "", "   ", "[]", "{}", "{\(base)", "{\(base)}x", "{\(base)},",
        "{\(base),\"id\":\"e2\"}",
        "{\(base),\"Id\":\"e2\"}",
        "{\(base),\"channel\":\"fax\"}",
        "{\(base),\"direction\":\"up\"}",
        "{\(base),\"outcome\":\"hung\"}",
        "{\(base),\"status\":\"maybe\"}",
        "{\(base),\"resolved\":\"yes\"}",
        "{\(base),\"resolved\":nul}",
        "{\(base),\"source\":1}",
        "{\(base),\"source\":[\"a\"]}",
        "{\(base),\"source\":{}}",
        "{\(base),\"duration_s\":1.5}",
        "{\(base),\"duration_s\":-1}",
        "{\(base),\"duration_s\":1e2}",
        "{\(base),\"duration_s\":0123}",
        "{\(base),\"duration_s\":1234567890123456789}",
        "{\(base),\"amount\":1.234}",
        "{\(base),\"amount\":-1}",
        "{\(base),\"amount\":1e3}",
        "{\(base),\"scheduled_for\":\"2026-02-30T00:00:00Z\"}",
        "{\(base),\"scheduled_for\":1.0}",
        "{\(base),\"attrs\":{\"a\":1}}",
        "{\(base),\"attrs\":{\"a\":\"1\",\"a\":\"2\"}}",
        "{\(base),\"attrs\":{\"a\":\"1\",}}",
        "{\(base),\"attrs\":\"a\"}",
        "{\(base),\"agent\":\"\u{01}\"}",
        #"{"id":"","type":"call","subject":"p","at":0}"#,
        #"{"id":"e","type":"call","subject":"","at":0}"#,
        #"{"id":"e","type":"call","subject":"p"}"#,
        #"{"id":"e","type":"call","subject":"p","at":null}"#,
        #"{"id":"e","type":"phone","subject":"p","at":0}"#,
        #"{"id":"e","type":"call","subject":"p","at":"2026-02-01"}"#,
        #"{"id":"e","type":"call","subject":"p","at":253402300800000}"#,
        #"{"id":"m","type":"message_sent","subject":"s","at":0}"#,
        #"{"id":"m","type":"message_opened","subject":"s","at":0,"message":""}"#,
        #"{"id":"m","type":"referral","subject":"s","at":0}"#,
        #"{"id":"m","type":"identify","subject":"s","at":0,"patient":null}"#,
        #"{"id":"m","type":"eligibility","subject":"s","at":0}"#,
    ])
    func invalidDeclines(text: String) {
        #expect(general(text) == nil, "the general path accepts \(text)")
        #expect(fast(text) == nil, "accepted: \(text)")
    }

    @Test("limits: at the limit accepted, past it declined")
    func limits() throws {
        let id64 = String(repeating: "é", count: 64)
        let ok = #"{"id":"\#(id64)","type":"call","subject":"p","at":0}"#
        let okBytes = try #require(fast(ok))
        #expect(okBytes == general(ok))
        let id65 = #"{"id":"\#(id64)x","type":"call","subject":"p","at":0}"#
        #expect(fast(id65) == nil && general(id65) == nil)
        let attrs16 = (0..<16).map { #""k\#($0)":"v""# }.joined(separator: ",")
        let sixteen = "{\(base),\"attrs\":{\(attrs16)}}"
        let sixteenBytes = try #require(fast(sixteen))
        #expect(sixteenBytes == general(sixteen))
        let seventeen = "{\(base),\"attrs\":{\(attrs16),\"k16\":\"v\"}}"
        #expect(fast(seventeen) == nil && general(seventeen) == nil)
        let big = String(repeating: "x", count: 1000)
        let overBytes = "{\(base),\"attrs\":{\"a\":\"\(big)\",\"b\":\"\(big.prefix(30))\"}}"
        #expect(fast(overBytes) == nil && general(overBytes) == nil)
        // 4096 bytes of event text are allowed, 4097 are not (surrounding whitespace aside).
        let fields = ["source", "medium", "campaign", "term", "agent", "conversation", "appointment", "location",
                      "provider", "to_agent"]
        let head = "{\(base)," + fields.map { "\"\($0)\":\"" + String(repeating: "x", count: 250) + "\"," }.joined()
            + "\"attrs\":{\"a\":\"" + String(repeating: "y", count: 900) + "\"},\"concern\":\""
        let fill = 4096 - head.utf8.count - 2
        try #require(fill >= 1 && fill <= 500)
        let at4096 = head + String(repeating: "c", count: fill) + "\"}"
        #expect(at4096.utf8.count == 4096)
        let bytes4096 = try #require(fast(" \n" + at4096 + "\t "))
        #expect(bytes4096 == general(at4096))
        let at4097 = head + String(repeating: "c", count: fill + 1) + "\"}"
        #expect(fast(at4097) == nil && general(at4097) == nil)
    }

    @Test("random valid events: the fast path accepts their JSON and matches the general path")
    func randomEvents() throws {
        var state: UInt64 = 7
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let words = ["a", "google", "é", "x y", "🙂", "p-12", "", "anon-e093af5"]
        for _ in 0..<500 {
            let type = EventType.allCases[next(EventType.allCases.count)]
            var e = Event(id: "e\(next(1000))", type: type, subject: "s\(next(50))", at: Int64(next(1 << 30)) * 1000)
            if next(2) == 0 { e.source = words[next(words.count)] }
            if next(2) == 0 { e.agent = words[next(words.count)] }
            if next(3) == 0 { e.channel = Channel.allCases[next(Channel.allCases.count)] }
            if next(3) == 0 { e.durationS = Int64(next(5000)) }
            if next(3) == 0 { e.amountCents = Int64(next(100_000)) }
            if next(3) == 0 { e.resolved = next(2) == 0 }
            if next(4) == 0 { e.scheduledFor = Int64(next(1 << 30)) }
            if next(4) == 0 { e.attrs = [.init(key: "a", value: "1"), .init(key: "k\(next(3))", value: words[next(words.count)])] }
            e.message = "m"; e.referrer = "r"; e.patient = "p"; e.status = .pending
            if type == .consent {
                e.status = nil
                e.consentStatus = ConsentStatus.allCases[next(2)]
                e.channel = e.channel ?? .sms
            }
            let text = EventJSON.encode(e)
            let bytes = try #require(fast(text), "declined: \(text)")
            #expect(bytes == (try EventRecord.encode(e)), "\(text)")
        }
    }
}
