import Testing
@testable import JourneyCore

// The stored form of a signal is written by hand for speed: it must be byte for byte what
// `JSONWriter` writes for the same object, for every kind, rule, stage and channel, and for
// patient ids that need escapes.

@Suite struct SignalEncodingTests {
    @Test func theStoredBytesOfASignalAreHandChecked() {
        let s = Signal(at: 1_767_225_600_000, patient: "p\"1\\x", kind: .riskEntered, risk: .cancelledNotRebooked,
                       stage: .booked, contactable: [.sms, .email])
        #expect(String(decoding: s.storedBytes, as: UTF8.self)
                == #"{"at":"2026-01-01T00:00:00.000Z","patient":"p\"1\\x","signal":"risk_entered","risk":"cancelled_not_rebooked","stage":"booked","contactable":["sms","email"]}"#)
        let left = Signal(at: -1, patient: "a\nb\u{01}", kind: .riskLeft, risk: .lapsed, stage: .lapsed, contactable: [])
        #expect(String(decoding: left.storedBytes, as: UTF8.self)
                == #"{"at":"1969-12-31T23:59:59.999Z","patient":"a\nb\u0001","signal":"risk_left","risk":"lapsed","stage":"lapsed","contactable":[]}"#)
    }

    @Test func theStoredBytesAreWhatJSONWriterWrites() {
        let patients = ["p-1", "", "é→😀", "q\"uote", "back\\slash", "tab\there", "nul\u{0}", "del\u{7F}"]
        let lists: [[Channel]] = [[], [.inPerson], Channel.allCases]
        let times: [Int64] = [0, -1, 1_767_225_600_123, Timestamp.minMs, Timestamp.maxMs]
        var compared = 0
        for kind in Signal.Kind.allCases {
            for risk in Risk.allCases {
                for stage in Stage.allCases {
                    for (i, patient) in patients.enumerated() {
                        let s = Signal(at: times[i % times.count], patient: patient, kind: kind, risk: risk, stage: stage,
                                       contactable: lists[i % lists.count])
                        #expect(s.storedBytes == s.storedBytesWritten, "\(s)")
                        compared += 1
                    }
                }
            }
        }
        #expect(compared == 2 * Risk.allCases.count * Stage.allCases.count * patients.count)
    }

    @Test func timesAreWrittenWithEveryDigit() {
        #expect(Timestamp.format(ms: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(ms: 1_000_000_000_007) == "2001-09-09T01:46:40.007Z")
        #expect(Timestamp.format(ms: 951_782_399_999) == "2000-02-28T23:59:59.999Z")
        #expect(Timestamp.format(ms: 951_782_400_000 + 86_399_999) == "2000-02-29T23:59:59.999Z")
        #expect(Timestamp.format(ms: Timestamp.minMs) == "0001-01-01T00:00:00.000Z")
        #expect(Timestamp.format(ms: Timestamp.maxMs) == "9999-12-31T23:59:59.999Z")
    }
}
