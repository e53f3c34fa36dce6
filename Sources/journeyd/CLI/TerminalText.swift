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

    static func needsEscape(_ ch: Unicode.Scalar) -> Bool {
        switch ch.value {
        case 0..<0x20, 0x7F...0x9F: true
        case 0x061C, 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0xFEFF: true
        default: false
        }
    }
}
