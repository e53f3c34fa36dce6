import Testing
@testable import JourneyCore

// The signalled state is read back from the stored signals at every open, in place rather than
// through a JSON value: the direct reading must accept exactly the entries the JSON reading
// accepts, and read the same patient, kind and rule from them.

/// The JSON reading of a stored entry (what the store did before the direct one).
private func viaJSON(_ seq: UInt64, _ bytes: [UInt8]) -> StoredSignalChange? {
    bytes.withUnsafeBytes { b in
        guard let v = try? JSONParser.parse(Signal.line(seq: seq, stored: b)), let s = try? Signal(json: v) else { return nil }
        return StoredSignalChange(patient: s.patient, kind: s.kind, risk: s.risk)
    }
}

private func read(_ seq: UInt64, _ bytes: [UInt8]) -> StoredSignalChange? {
    bytes.withUnsafeBytes { StoredSignalChange(seq: seq, stored: $0) }
}

private func direct(_ seq: UInt64, _ bytes: [UInt8]) -> StoredSignalChange? {
    bytes.withUnsafeBytes { StoredSignalChange.direct(seq: seq, $0) }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct StoredSignalChangeTests {
    @Test func aStoredEntryIsReadInPlaceWithHandCheckedValues() {
        let entry = bytes(#"{"at":"2026-01-01T00:00:00.000Z","patient":"p\"1\\x","signal":"risk_entered","risk":"cancelled_not_rebooked","stage":"booked","contactable":["sms","email"]}"#)
        #expect(direct(1, entry) == StoredSignalChange(patient: "p\"1\\x", kind: .riskEntered, risk: .cancelledNotRebooked))
        let left = bytes(#"{"at":"1969-12-31T23:59:59.999Z","patient":"a\nb\u0001","signal":"risk_left","risk":"lapsed","stage":"lapsed","contactable":[]}"#)
        #expect(direct(7, left) == StoredSignalChange(patient: "a\nb\u{01}", kind: .riskLeft, risk: .lapsed))
        // Escapes the writer does not write but JSON allows, below U+0080, are read in place too.
        let other = bytes(#"{"at":"2026-01-01T00:00:00.000Z","patient":"\u0041\/\b\f\r\t","signal":"risk_left","risk":"declining_engagement","stage":"active","contactable":["in_person"]}"#)
        #expect(direct(1, other) == StoredSignalChange(patient: "A/\u{08}\u{0C}\r\t", kind: .riskLeft, risk: .decliningEngagement))
        #expect(viaJSON(1, other) == direct(1, other))
    }

    @Test func everyEncodedSignalIsReadInPlaceAsTheJSONReadingReadsIt() {
        let patients = ["p-1", "", "é→😀", "q\"uote", "back\\slash", "tab\there", "nul\u{0}", "del\u{7F}", "c\u{1F}r\r"]
        let lists: [[Channel]] = [[], [.inPerson], Channel.allCases]
        let times: [Int64] = [0, -1, 1_767_225_600_123, Timestamp.minMs, Timestamp.maxMs]
        var compared = 0
        for kind in Signal.Kind.allCases {
            for risk in Risk.allCases {
                for stage in Stage.allCases {
                    for (i, patient) in patients.enumerated() {
                        let s = Signal(at: times[i % times.count], patient: patient, kind: kind, risk: risk, stage: stage,
                                       contactable: lists[i % lists.count])
                        let expected = StoredSignalChange(patient: patient, kind: kind, risk: risk)
                        #expect(direct(UInt64(i + 1), s.storedBytes) == expected, "\(s)")
                        #expect(viaJSON(UInt64(i + 1), s.storedBytes) == expected, "\(s)")
                        compared += 1
                    }
                }
            }
        }
        #expect(compared == 2 * 5 * 5 * 9)
    }

    @Test func entriesOfAnotherLayoutAreLeftToTheJSONReading() {
        let valid = [
            // Whitespace, another member order, an epoch-ms time, escapes above U+007F.
            #"{ "at": "2026-01-01T00:00:00.000Z", "patient": "p1", "signal": "risk_entered", "risk": "lapsed", "stage": "active", "contactable": [] }"#,
            #"{"patient":"p1","at":"2026-01-01T00:00:00.000Z","signal":"risk_entered","risk":"lapsed","stage":"active","contactable":[]}"#,
            #"{"at":"1767225600000","patient":"p1","signal":"risk_entered","risk":"lapsed","stage":"active","contactable":[]}"#,
            #"{"at":"2026-01-01T01:00:00+01:00","patient":"p1","signal":"risk_entered","risk":"lapsed","stage":"active","contactable":[]}"#,
        ]
        for text in valid {
            #expect(direct(3, bytes(text)) == nil, "\(text)")
            #expect(read(3, bytes(text)) == StoredSignalChange(patient: "p1", kind: .riskEntered, risk: .lapsed), "\(text)")
        }
        let escaped = bytes(#"{"at":"2026-01-01T00:00:00.000Z","patient":"\u00e9\ud83d\ude00","signal":"risk_left","risk":"overdue","stage":"active","contactable":[]}"#)
        #expect(direct(3, escaped) == nil)
        #expect(read(3, escaped) == StoredSignalChange(patient: "é😀", kind: .riskLeft, risk: .overdue))
    }

    @Test func entriesThatAreNoSignalAreRefusedBothWays() {
        /// An entry in the stored layout with its members' raw bytes as given.
        func entry(at: String = #""2026-01-01T00:00:00.000Z""#, patient: [UInt8] = bytes(#""p1""#),
                   signal: String = #""risk_entered""#, risk: String = #""lapsed""#,
                   stage: String = #","stage":"active""#, contactable: String = #"["sms"]"#) -> [UInt8] {
            bytes(#"{"at":"# + at + #","patient":"#) + patient + bytes(#","signal":"# + signal + #","risk":"# + risk + stage
                + #","contactable":"# + contactable + "}")
        }
        let bad: [[UInt8]] = [
            [],
            bytes("{}"),
            entry(at: #""2026-13-01T00:00:00.000Z""#),
            entry(at: #""2026-02-30T00:00:00.000Z""#),
            entry(at: "1767225600000"),
            entry(signal: #""risk_maybe""#),
            entry(risk: #""late""#),
            entry(stage: #","stage":"gone""#),
            entry(stage: ""),
            entry(contactable: #"["fax"]"#),
            entry(contactable: #"["sms",]"#),
            entry(contactable: #""sms""#),
            entry(patient: bytes("1")),
            entry(patient: bytes(#""p\x""#)),
            entry(patient: bytes(#""p\u00""#)),
            // A raw control character, bytes that are not UTF-8, an encoded surrogate.
            entry(patient: [0x22, 0x70, 0x01, 0x22]),
            entry(patient: [0x22, 0x70, 0xFF, 0x22]),
            entry(patient: [0x22, 0xED, 0xA0, 0x80, 0x22]),
            Array(entry().dropLast()),
        ]
        for e in bad {
            let text = String(decoding: e, as: UTF8.self)
            #expect(read(1, e) == nil, "\(text)")
            #expect(viaJSON(1, e) == nil, "\(text)")
        }
        // Seq 0 is no stored seq; the same entry reads at seq 1.
        #expect(read(0, entry()) == nil)
        #expect(read(1, entry()) == StoredSignalChange(patient: "p1", kind: .riskEntered, risk: .lapsed))
        #expect(read(1, entry(patient: [0x22, 0x70, 0xC3, 0xA9, 0x22])) == StoredSignalChange(patient: "pé", kind: .riskEntered, risk: .lapsed))
    }

    @Test func everyByteChangedOrCutReadsAsTheJSONReadingReadsIt() {
        let s = Signal(at: 1_767_225_600_123, patient: "pé\"\\\n1", kind: .riskLeft, risk: .noShowNotRebooked, stage: .booked,
                       contactable: [.sms, .chat])
        let entry = s.storedBytes
        let replacements: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "x"), UInt8(ascii: "0"),
                                     UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: " "), 0x01, 0x80, 0xFF]
        var accepted = 0
        var refused = 0
        for i in entry.indices {
            for r in replacements where entry[i] != r {
                var changed = entry
                changed[i] = r
                let expected = viaJSON(1, changed)
                #expect(read(1, changed) == expected, "byte \(i) as \(r)")
                if expected == nil { refused += 1 } else { accepted += 1 }
            }
            let cut = Array(entry[..<i])
            #expect(read(1, cut) == nil && viaJSON(1, cut) == nil, "cut at \(i)")
        }
        // Some changes keep a signal (a digit of the time, a letter of the id), most do not.
        #expect(accepted > 0 && refused > accepted)
    }
}
