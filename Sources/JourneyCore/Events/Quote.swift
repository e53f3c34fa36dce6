/// How error messages show an offending value: in double quotes, at most
/// `EventError.maxValueDisplay` Unicode scalars of it (then `…`), with quotes, backslashes and
/// the characters that would garble or reorder a terminal line (control, bidirectional,
/// zero-width) escaped. A 100 KB value costs a message 80 characters, not 100 KB.
package enum Quote {
    /// `value` shortened and escaped, in double quotes.
    package static func short(_ value: some StringProtocol) -> String {
        escaped(EventError.truncated(String(value)))
    }

    /// `value` escaped, in double quotes, whole.
    package static func escaped(_ v: String) -> String {
        var out = "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // Control, bidirectional and zero-width characters would reorder or hide what
                // the terminal shows: written as escapes.
                if IdCharacters.kind(of: u.value) != nil {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
