import Testing
@testable import JourneyCore

@Suite("Timestamp parsing")
struct TimestampTests {
    private func ms(_ s: String) -> Int64? {
        var t = s
        return t.withUTF8 { try? Timestamp.parseRFC3339($0) }
    }

    private func reason(_ s: String) -> String? {
        var t = s
        return t.withUTF8 { b -> String? in
            do throws(Timestamp.ParseError) {
                _ = try Timestamp.parseRFC3339(b)
                return nil
            } catch {
                return error.reason
            }
        }
    }

    @Test func utcAndEpoch() {
        #expect(ms("1970-01-01T00:00:00Z") == 0)
        #expect(ms("2025-01-01T00:00:00Z") == 1_735_689_600_000)
        // 2026-03-01: 20513 days after the epoch; 14:05 = 50_700_000 ms.
        #expect(ms("2026-03-01T14:05:00Z") == Int64(20513) * 86_400_000 + 50_700_000)
        #expect(ms("1969-12-31T23:59:59.999Z") == -1)
    }

    @Test func offsets() {
        #expect(ms("2025-01-01T02:00:00+02:00") == 1_735_689_600_000)
        #expect(ms("2024-12-31T18:30:00-05:30") == 1_735_689_600_000)
        #expect(ms("2025-01-01T00:00:00-00:00") == 1_735_689_600_000)
        #expect(ms("2025-01-01T00:00:00z") == 1_735_689_600_000)
    }

    @Test func separators() {
        #expect(ms("2025-01-01t00:00:00Z") == 1_735_689_600_000)
        #expect(ms("2025-01-01 00:00:00Z") == 1_735_689_600_000)
        #expect(reason("2025-01-01_00:00:00Z") == "'T' expected between date and time")
    }

    @Test func fractionalSecondsTruncateToMilliseconds() {
        #expect(ms("2025-01-01T00:00:00.5Z") == 1_735_689_600_500)
        #expect(ms("2025-01-01T00:00:00.12Z") == 1_735_689_600_120)
        #expect(ms("2025-01-01T00:00:00.123Z") == 1_735_689_600_123)
        #expect(ms("2025-01-01T00:00:00.123999999Z") == 1_735_689_600_123)  // truncated, not rounded
        #expect(ms("2025-01-01T00:00:00.9999+01:00") == 1_735_686_000_999)
        #expect(reason("2025-01-01T00:00:00.Z") == "digit expected after '.'")
    }

    @Test func rejectsMissingOffset() {
        #expect(reason("2025-01-01T00:00:00") != nil)
        #expect(reason("2025-01-01T00:00:00.123") == "missing offset (Z or ±HH:MM)")
        #expect(reason("2025-01-01T00:00:00+0200") == "offset must be ±HH:MM")
        #expect(reason("2025-01-01T00:00:00+02") != nil)
        #expect(reason("2025-01-01") != nil)
        #expect(reason("2025-01-01T00:00:00ZZ") == "unexpected characters after the offset")
    }

    @Test func rejectsOutOfRangeParts() {
        #expect(reason("2026-13-01T00:00:00Z") == "month out of range")
        #expect(reason("2026-00-01T00:00:00Z") == "month out of range")
        #expect(reason("2026-02-30T00:00:00Z") == "day out of range")
        #expect(reason("2025-02-29T00:00:00Z") == "day out of range")
        #expect(ms("2024-02-29T00:00:00Z") != nil)  // leap year
        #expect(reason("1900-02-29T00:00:00Z") == "day out of range")
        #expect(ms("2000-02-29T00:00:00Z") != nil)
        #expect(reason("2026-04-31T00:00:00Z") == "day out of range")
        #expect(reason("2026-01-01T24:00:00Z") == "hour out of range")
        #expect(reason("2026-01-01T00:60:00Z") == "minute out of range")
        #expect(reason("2016-12-31T23:59:60Z") == "leap seconds are not supported")
        #expect(reason("2026-01-01T00:00:00+24:00") == "offset out of range")
        #expect(reason("0000-01-01T00:00:00Z") == "year out of range")
    }

    @Test func yearRangeIsCheckedInUTC() {
        #expect(ms("0001-01-01T00:00:00Z") == Timestamp.minMs)
        #expect(ms("9999-12-31T23:59:59.999Z") == Timestamp.maxMs)
        #expect(reason("0001-01-01T00:30:00+01:00") == "outside years 0001–9999 UTC")
        #expect(reason("9999-12-31T23:30:00-01:00") == "outside years 0001–9999 UTC")
        #expect(Timestamp.format(ms: Timestamp.minMs) == "0001-01-01T00:00:00.000Z")
        #expect(Timestamp.format(ms: Timestamp.maxMs) == "9999-12-31T23:59:59.999Z")
    }

    @Test func formatParsesBack() {
        var rng = ParsingRNG(seed: 7)
        for _ in 0..<2000 {
            let v = Timestamp.minMs + Int64(rng.next() % UInt64(Timestamp.maxMs - Timestamp.minMs + 1))
            #expect(ms(Timestamp.format(ms: v)) == v)
        }
    }

    @Test func canonicalFormKeepsEveryCheckAndReason() {
        // The 24-byte form `appendRFC3339` writes takes a shortcut; what it refuses gets the
        // general path's reason.
        #expect(ms("2024-02-29T23:59:59.999Z") == Int64(19782) * 86_400_000 + 86_399_999)
        #expect(ms("0001-01-01T00:00:00.000Z") == Timestamp.minMs)
        #expect(ms("9999-12-31T23:59:59.999Z") == Timestamp.maxMs)
        #expect(reason("2023-02-29T00:00:00.000Z") == "day out of range")
        #expect(reason("2026-04-31T00:00:00.000Z") == "day out of range")
        #expect(reason("2026-00-10T00:00:00.000Z") == "month out of range")
        #expect(reason("0000-01-01T00:00:00.000Z") == "year out of range")
        #expect(reason("2026-01-01T24:00:00.000Z") == "hour out of range")
        #expect(reason("2026-01-01T00:60:00.000Z") == "minute out of range")
        #expect(reason("2026-01-01T00:00:60.000Z") == "leap seconds are not supported")
        #expect(reason("2026-0a-01T00:00:00.000Z") == "digit expected at character 7")
        #expect(reason("2026-01-01T00:00:00.00aZ") == "missing offset (Z or ±HH:MM)")
    }

    @Test func parseAcceptsBothForms() {
        #expect(Timestamp.parse("2025-01-01T00:00:00Z") == 1_735_689_600_000)
        #expect(Timestamp.parse("1735689600000") == 1_735_689_600_000)
        #expect(Timestamp.parse("-1") == -1)
        #expect(Timestamp.parse("1e3") == nil)
        #expect(Timestamp.parse("99999999999999999999") == nil)
        #expect(Timestamp.parse("yesterday") == nil)
    }
}

/// A small seeded generator so property tests are reproducible.
struct ParsingRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
