import Testing
@testable import JourneyCore

// SPEC §1: an id (`id`, `subject`, `patient`, `referrer`, `conversation`, `appointment`,
// `message`) holding a control character, a bidirectional control or a zero-width character is
// refused, with the field and the character named; the fast record parser declines what the
// general path refuses.

/// An event line whose `field` is `value` (given as JSON string content, escapes allowed).
private func line(_ field: String, _ value: String) -> String {
    var members = [
        "id": "e1", "type": "referral", "subject": "p-1", "at": "2026-02-01T10:00:00.000Z", "referrer": "p-2",
    ]
    switch field {
    case "patient":
        members["type"] = "identify"
        members["referrer"] = nil
    case "conversation", "appointment":
        members["type"] = "booking"
        members["referrer"] = nil
    case "message":
        members["type"] = "message_sent"
        members["referrer"] = nil
    default: break
    }
    members[field] = value
    let body = members.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",")
    return "{" + body + "}"
}

private func fastRecord(_ text: String) -> [UInt8]? {
    var out: [UInt8] = []
    let ok = Array(text.utf8).withUnsafeBufferPointer { EventRecord.appendParsing($0, to: &out) }
    return ok ? out : nil
}

@Suite("Id characters")
struct IdCharacterTests {
    static let idFields = ["id", "subject", "patient", "referrer", "conversation", "appointment", "message"]

    @Test(arguments: idFields)
    func everyKindIsRefusedInEveryIdField(field: String) throws {
        // Sanity: the plain line parses.
        _ = try EventParser.parse(line(field, "ok-1"))
        let refused: [(String, String, String)] = [
            ("a\\u0000b", "control", "U+0000"),
            ("a\\u001bb", "control", "U+001B"),
            ("a\\u007fb", "control", "U+007F"),
            ("a\u{85}b", "control", "U+0085"),
            ("a\u{202E}b", "bidirectional", "U+202E"),
            ("a\u{2066}b", "bidirectional", "U+2066"),
            ("a\u{200F}b", "bidirectional", "U+200F"),
            ("a\u{061C}b", "bidirectional", "U+061C"),
            ("a\u{200B}b", "zero-width", "U+200B"),
            ("a\u{2060}b", "zero-width", "U+2060"),
            ("a\\ufeffb", "zero-width", "U+FEFF"),
        ]
        for (value, kind, code) in refused {
            let text = line(field, value)
            let error = #expect(throws: EventError.self) { try EventParser.parse(text) }
            #expect(error?.field == field, "\(text)")
            #expect(error?.code == .badValue)
            #expect(error?.description.contains(kind) == true, "\(error?.description ?? "")")
            #expect(error?.description.contains(code) == true, "\(error?.description ?? "")")
            #expect(fastRecord(text) == nil, "the fast path took \(text)")
        }
    }

    @Test func neighboursOfTheRefusedRangesAndOtherScriptsPass() throws {
        // Just outside each range, and ordinary non-ASCII ids.
        for value in ["a\u{A0}b", "a\u{2010}b", "a\u{2029}b", "a\u{2070}b", "ñandú-7", "患者-12", "a b~"] {
            let e = try EventParser.parse(line("subject", value))
            #expect(e.subject == value)
            // The fast path declines non-ASCII ids or gives the general path's record.
            if let fast = fastRecord(line("subject", value)) {
                #expect(fast == (try EventRecord.encode(e)))
            }
        }
    }

    @Test func freeTextFieldsKeepTheirCharacters() throws {
        // The rule is for ids only: a concern may hold a zero-width joiner (emoji sequences).
        let e = try EventParser.parse(#"{"id":"c1","type":"chat","subject":"p-1","at":0,"concern":"tooth 🦷\#u{200D}pain"}"#)
        #expect(e.concern?.unicodeScalars.contains("\u{200D}") == true)
    }

    @Test func theErrorQuotesAShortPrefixOfALongValue() throws {
        let long = String(repeating: "x", count: 100_000) + "\u{200B}"
        let error = #expect(throws: EventError.self) { try EventParser.parse(line("subject", long)) }
        #expect((error?.description.utf8.count ?? .max) < 400)
    }

    @Test func theClassifierAgreesWithTheRanges() {
        for v: UInt32 in [0, 0x1F, 0x7F, 0x80, 0x9F] { #expect(IdCharacters.kind(of: v) == .control) }
        for v: UInt32 in [0x20, 0x7E, 0xA0, 0x061B, 0x061D, 0x200A, 0x2010, 0x2029, 0x202F, 0x2065, 0x206A, 0xFEFE, 0xFF00] {
            #expect(IdCharacters.kind(of: v) == nil, "U+\(String(v, radix: 16))")
        }
        for v: UInt32 in [0x200E, 0x200F, 0x202A, 0x202E, 0x2066, 0x2069, 0x061C] { #expect(IdCharacters.kind(of: v) == .bidiControl) }
        for v: UInt32 in [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF] { #expect(IdCharacters.kind(of: v) == .zeroWidth) }
    }
}

@Suite("Error display")
struct ErrorDisplayTests {
    @Test func refusedCharactersAreEscapedInTheMessage() throws {
        let error = #expect(throws: EventError.self) {
            try EventParser.parse(#"{"id":"e1","type":"call","subject":"z\u200b1\u202e","at":0}"#)
        }
        #expect(error?.description == #"field "subject": an id must not hold a zero-width character (U+200B) "z\u200b1\u202e""#)
    }
}
