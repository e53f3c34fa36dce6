import JourneyCore

/// Values from events made safe for a terminal: a name holding ESC could recolour or rewrite
/// the screen, and one holding a newline could forge a table row. Every cell of the command
/// line's readable tables passes through `escape`.
enum TerminalText {
    /// `s` with control characters (C0, DEL, C1), bidirectional controls and zero-width
    /// characters written as visible escapes: `\n`, `\r`, `\t`, else `\u{XX}`.
    static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        for ch in s.unicodeScalars {
            guard needsEscape(ch) else {
                out.unicodeScalars.append(ch)
                continue
            }
            switch ch {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(ch.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }

    /// The characters the id rule refuses (`IdCharacters`: control, bidirectional and
    /// zero-width), and the invisible operators U+2061–U+2065, which show nothing either.
    static func needsEscape(_ ch: Unicode.Scalar) -> Bool {
        IdCharacters.kind(of: ch.value) != nil || (0x2061...0x2065).contains(ch.value)
    }
}
