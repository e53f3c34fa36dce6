/// Conversions between milliseconds since the Unix epoch and RFC 3339 text, without Foundation
/// (civil-date arithmetic after Howard Hinnant's `days_from_civil`).
public enum Timestamp {
    /// Days since 1970-01-01 for a proleptic Gregorian date.
    @inlinable public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    @inlinable public static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
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
    public static func appendRFC3339(ms: Int64, to out: inout [UInt8]) {
        var days = ms / 86_400_000
        var rem = ms % 86_400_000
        if rem < 0 { rem += 86_400_000; days -= 1 }
        let (y, mo, d) = civilFromDays(days)
        func put(_ v: Int64, _ width: Int) {
            var digits = [UInt8](repeating: 48, count: width)
            var x = v
            var i = width - 1
            while i >= 0 { digits[i] = UInt8(48 + x % 10); x /= 10; i -= 1 }
            out.append(contentsOf: digits)
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
