import Testing
@testable import journeyd

@Suite("LineFramer")
struct ServerFramingTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func splitsLinesAcrossReads() {
        var framer = LineFramer(maxLineBytes: 100)
        framer.append(bytes("{\"op\":"))
        #expect(framer.next() == nil)
        framer.append(bytes("\"ping\"}\n{\"op\""))
        #expect(framer.next() == .line(bytes("{\"op\":\"ping\"}")))
        #expect(framer.next() == nil)
        framer.append(bytes(":\"stats\"}\n"))
        #expect(framer.next() == .line(bytes("{\"op\":\"stats\"}")))
        #expect(framer.next() == nil)
        #expect(framer.bufferedCount == 0)
    }

    @Test func skipsEmptyLinesAndStripsCarriageReturn() {
        var framer = LineFramer(maxLineBytes: 100)
        framer.append(bytes("\n\r\n\na\r\nb\n"))
        #expect(framer.next() == .line(bytes("a")))
        #expect(framer.next() == .line(bytes("b")))
        #expect(framer.next() == nil)
    }

    @Test func overlongLineIsReportedOnceAndDiscardedToNewline() {
        var framer = LineFramer(maxLineBytes: 4)
        framer.append(bytes("abcd\n"))  // exactly the limit: fine
        #expect(framer.next() == .line(bytes("abcd")))
        framer.append(bytes("abc"))
        #expect(framer.next() == nil)
        framer.append(bytes("de"))  // 5 bytes without a newline: over
        #expect(framer.next() == .tooLong)
        #expect(framer.bufferedCount == 0)
        framer.append(bytes("fghij"))  // still the same line: dropped silently
        #expect(framer.next() == nil)
        #expect(framer.bufferedCount == 0)
        framer.append(bytes("k\nok\n"))
        #expect(framer.next() == .line(bytes("ok")))
        #expect(framer.next() == nil)
    }

    @Test func overlongLineArrivingWholeIsReported() {
        var framer = LineFramer(maxLineBytes: 4)
        framer.append(bytes("abcdef\nxy\n"))
        #expect(framer.next() == .tooLong)
        #expect(framer.next() == .line(bytes("xy")))
    }

    @Test func finishReturnsTheUnterminatedLastLine() {
        var framer = LineFramer(maxLineBytes: 10)
        framer.append(bytes("a\nlast"))
        #expect(framer.finish() == .line(bytes("a")))
        #expect(framer.finish() == .line(bytes("last")))
        #expect(framer.finish() == nil)
    }
}
