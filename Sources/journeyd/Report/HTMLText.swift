/// Text made safe for an HTML page: every value that came from events (a location, a campaign,
/// an agent name) passes through here before it is written into the report.
enum HTMLText {
    /// `s` with `&`, `<`, `>`, `"` and `'` replaced by character references, and control
    /// characters (which HTML cannot show and a terminal might obey) replaced by U+FFFD.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if ch.value < 0x20 || (0x7F...0x9F).contains(ch.value) {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out
    }

    /// A whole number with thousands separators: `12345` → `12,345`.
    static func count(_ n: Int64) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return n < 0 ? "-" + out : out
    }

    /// A rate in [0, 1] as a percentage with one decimal (`0.4567` → `45.7%`), as the tables
    /// write it; `–` for none.
    static func percent(_ rate: Double?) -> String {
        guard let rate, rate.isFinite else { return "–" }
        return Reports.percent(rate)
    }

    /// A coordinate or length for SVG, with at most one decimal.
    static func number(_ x: Double) -> String {
        let tenths = Int64((x * 10).rounded())
        let sign = tenths < 0 ? "-" : "", m = tenths.magnitude
        return m % 10 == 0 ? "\(sign)\(m / 10)" : "\(sign)\(m / 10).\(m % 10)"
    }
}
