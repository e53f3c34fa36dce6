import Testing
@testable import journeyd

@Suite struct TerminalTextTests {
    @Test func plainTextIsUnchanged() {
        #expect(TerminalText.escape("staff:jdoe — Zoë") == "staff:jdoe — Zoë")
        #expect(TerminalText.escape("") == "")
    }

    @Test func controlsBecomeVisibleEscapes() {
        #expect(TerminalText.escape("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(TerminalText.escape("\u{1B}[31mred") == "\\u{1B}[31mred")
        #expect(TerminalText.escape("\u{0}\u{1F}\u{7F}\u{80}\u{9F}") == "\\u{0}\\u{1F}\\u{7F}\\u{80}\\u{9F}")
        // The printable neighbours of those ranges stay.
        #expect(TerminalText.escape(" ~\u{A0}") == " ~\u{A0}")
        // Bidirectional controls and zero-width characters, at the edges of their ranges.
        #expect(TerminalText.escape("\u{202A}\u{202E}\u{2066}\u{2069}\u{200B}\u{200F}\u{FEFF}\u{061C}")
                == "\\u{202A}\\u{202E}\\u{2066}\\u{2069}\\u{200B}\\u{200F}\\u{FEFF}\\u{61C}")
        #expect(TerminalText.escape("\u{2029}\u{2070}") == "\u{2029}\u{2070}")
    }

    @Test func aValueCannotForgeATableRow() {
        var t = Table(["agent", "concern"])
        t.add(["staff:x\nbot:forged  row", "fine\u{1B}[2J"])
        let lines = t.render().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        #expect(lines[2] == "staff:x\\nbot:forged  row  fine\\u{1B}[2J")
        let kv = keyValues([("agent", "a\nb")])
        #expect(kv == "agent  a\\nb")
    }
}
