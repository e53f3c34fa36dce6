/// Conversions between milliseconds since the Unix epoch and RFC 3339 text, without Foundation
/// (civil-date arithmetic after Howard Hinnant's `days_from_civil`).
public enum Timestamp {
    /// Days since 1970-01-01 for a proleptic Gregorian date.
    @inlinable package static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    @inlinable package static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` for `ms`.
    package static func appendRFC3339(ms: Int64, to out: inout [UInt8]) {
        var days = ms / 86_400_000
        var rem = ms % 86_400_000
        if rem < 0 { rem += 86_400_000; days -= 1 }
        let (y, mo, d) = civilFromDays(days)
        // Digits written in place, most significant first (no buffer per field).
        func put(_ v: Int64, _ width: Int) {
            var scale: Int64 = 1
            for _ in 1..<width { scale *= 10 }
            var x = v
            while scale > 0 {
                out.append(UInt8(48 + x / scale % 10))
                x %= scale
                scale /= 10
            }
        }
        if y < 0 || y > 9999 {
            out.append(contentsOf: String(y).utf8)
        } else {
            put(y, 4)
        }
        out.append(UInt8(ascii: "-")); put(mo, 2)
        out.append(UInt8(ascii: "-")); put(d, 2)
        out.append(UInt8(ascii: "T")); put(rem / 3_600_000, 2)
        out.append(UInt8(ascii: ":")); put(rem / 60_000 % 60, 2)
        out.append(UInt8(ascii: ":")); put(rem / 1000 % 60, 2)
        out.append(UInt8(ascii: ".")); put(rem % 1000, 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// `ms` as RFC 3339 UTC with milliseconds.
    public static func format(ms: Int64) -> String {
        var b: [UInt8] = []
        appendRFC3339(ms: ms, to: &b)
        return String(decoding: b, as: UTF8.self)
    }
}

// MARK: - Parsing (RFC 3339 and epoch milliseconds)

extension Timestamp {
    /// Earliest accepted time, `0001-01-01T00:00:00.000Z`, in ms since the epoch.
    public static let minMs: Int64 = -62_135_596_800_000
    /// Latest accepted time, `9999-12-31T23:59:59.999Z`, in ms since the epoch.
    public static let maxMs: Int64 = 253_402_300_799_999

    /// Why a timestamp text was rejected (`"month out of range"`).
    package struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        package var reason: String
        package init(_ reason: String) { self.reason = reason }
        package var description: String { reason }
    }

    /// Parses RFC 3339 text: `YYYY-MM-DD`, then `T`, `t` or a space, `HH:MM:SS`, optional
    /// fractional seconds of any length (truncated to milliseconds, never rounded), then a
    /// mandatory offset `Z`, `z` or `±HH:MM`.
    ///
    /// Leap seconds (`:60`) are rejected: the store keeps POSIX time, which has none. The result
    /// must lie in years 0001–9999 UTC (`minMs...maxMs`).
    package static func parseRFC3339(_ b: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Int64 {
        if let ms = parseCanonical(b) { return ms }
        let n = b.count
        guard n >= 20 else { throw ParseError("too short for RFC 3339 with offset") }
        func digits(_ i: Int, _ count: Int) throws(ParseError) -> Int64 {
            var v: Int64 = 0
            for k in i..<(i + count) {
                let d = b[k] &- UInt8(ascii: "0")
                guard d < 10 else { throw ParseError("digit expected at character \(k + 1)") }
                v = v * 10 + Int64(d)
            }
            return v
        }
        func sep(_ i: Int, _ c: Unicode.Scalar) throws(ParseError) {
            guard b[i] == UInt8(ascii: c) else { throw ParseError("'\(c)' expected at character \(i + 1)") }
        }
        let year = try digits(0, 4)
        try sep(4, "-")
        let month = try digits(5, 2)
        try sep(7, "-")
        let day = try digits(8, 2)
        let t = b[10]
        guard t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == UInt8(ascii: " ") else {
            throw ParseError("'T' expected between date and time")
        }
        let hour = try digits(11, 2)
        try sep(13, ":")
        let minute = try digits(14, 2)
        try sep(16, ":")
        let second = try digits(17, 2)
        var i = 19
        var fraction: Int64 = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < n, b[i] &- UInt8(ascii: "0") < 10 {
                if count < 3 { fraction = fraction * 10 + Int64(b[i] - UInt8(ascii: "0")) }
                count += 1
                i += 1
            }
            guard count > 0 else { throw ParseError("digit expected after '.'") }
            while count < 3 { fraction *= 10; count += 1 }
        }
        guard i < n else { throw ParseError("missing offset (Z or ±HH:MM)") }
        var offsetMs: Int64 = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard i + 6 <= n else { throw ParseError("offset must be ±HH:MM") }
            let oh = try digits(i + 1, 2)
            try sep(i + 3, ":")
            let om = try digits(i + 4, 2)
            guard oh <= 23, om <= 59 else { throw ParseError("offset out of range") }
            offsetMs = sign * (oh * 3_600_000 + om * 60_000)
            i += 6
        default:
            throw ParseError("missing offset (Z or ±HH:MM)")
        }
        guard i == n else { throw ParseError("unexpected characters after the offset") }
        guard year >= 1 else { throw ParseError("year out of range") }
        guard month >= 1 && month <= 12 else { throw ParseError("month out of range") }
        guard day >= 1 && day <= daysInMonth(year: year, month: month) else { throw ParseError("day out of range") }
        guard hour <= 23 else { throw ParseError("hour out of range") }
        guard minute <= 59 else { throw ParseError("minute out of range") }
        guard second <= 59 else {
            throw ParseError(second == 60 ? "leap seconds are not supported" : "second out of range")
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let ms = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + fraction - offsetMs
        guard ms >= minMs && ms <= maxMs else { throw ParseError("outside years 0001–9999 UTC") }
        return ms
    }

    /// The common form `YYYY-MM-DDTHH:MM:SS.mmmZ` (what `appendRFC3339` writes), parsed
    /// without per-field checks; nil for anything else, including out-of-range fields, which
    /// `parseRFC3339` then parses or explains. Same result as the general path when not nil.
    @inline(__always)
    static func parseCanonical(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count == 24, let p = b.baseAddress, p[4] == UInt8(ascii: "-"), p[7] == UInt8(ascii: "-"),
              p[10] == UInt8(ascii: "T"), p[13] == UInt8(ascii: ":"), p[16] == UInt8(ascii: ":"),
              p[19] == UInt8(ascii: "."), p[23] == UInt8(ascii: "Z") else { return nil }
        var bad: UInt8 = 0
        @inline(__always) func d(_ i: Int) -> Int64 {
            let v = p[i] &- UInt8(ascii: "0")
            bad |= v > 9 ? 1 : 0
            return Int64(v)
        }
        let year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3)
        let month = d(5) * 10 + d(6)
        let day = d(8) * 10 + d(9)
        let hour = d(11) * 10 + d(12)
        let minute = d(14) * 10 + d(15)
        let second = d(17) * 10 + d(18)
        let milli = d(20) * 100 + d(21) * 10 + d(22)
        guard bad == 0, year >= 1, month >= 1, month <= 12, day >= 1, day <= 28 || day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59 else { return nil }
        return daysFromCivil(year: year, month: month, day: day) * 86_400_000
            + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
    }

    /// Days in a month of the proleptic Gregorian calendar.
    @inlinable package static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Parses a time given as RFC 3339 (see `parseRFC3339`) or as integer milliseconds since the
    /// epoch (`1735689600000`, optionally negative); nil when it is neither or out of range.
    public static func parse(_ text: String) -> Int64? {
        var s = text
        return s.withUTF8 { b -> Int64? in
            if let first = b.first, first == UInt8(ascii: "-") || first &- UInt8(ascii: "0") < 10,
               b.count < 20 || !b.contains(UInt8(ascii: ":")) {
                guard let v = Int64(text), v >= minMs, v <= maxMs else { return nil }
                return v
            }
            return try? parseRFC3339(b)
        }
    }
}
