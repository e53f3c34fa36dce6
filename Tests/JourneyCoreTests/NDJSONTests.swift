import Testing
@testable import JourneyCore

private func line(_ id: String, extra: String = "") -> String {
    #"{"id":"\#(id)","type":"call","subject":"s","at":\#(1_735_689_600_000)\#(extra)}"#
}

/// Feeds `bytes` in chunks of `chunk` bytes and collects the result.
private func parseChunked(_ bytes: [UInt8], chunk: Int, maxLineLength: Int = 1 << 20) -> NDJSONBatch {
    var p = NDJSONBatchParser(maxLineLength: maxLineLength)
    var batch = NDJSONBatch()
    var i = 0
    while i < bytes.count {
        let end = min(i + chunk, bytes.count)
        p.feed(Array(bytes[i..<end]), into: &batch)
        i = end
    }
    p.finish(into: &batch)
    return batch
}

/// The (line, result) pairs of a batch, in line order, for comparing two parses.
private func summary(_ b: NDJSONBatch) -> [String] {
    var out: [(Int, String)] = zip(b.lines, b.events).map { ($0, "ok \($1.id)") }
    out += b.errors.map { ($0.line ?? -1, "error \($0.code) \($0.field ?? "-")") }
    return out.sorted { $0.0 < $1.0 }.map { "\($0.0): \($0.1)" }
}

@Suite("NDJSON line splitter")
struct NDJSONSplitterTests {
    private func lines(_ text: String, chunk: Int, max: Int = 1 << 20) -> [String] {
        var s = NDJSONLineSplitter(maxLineLength: max)
        var out: [String] = []
        let body: (NDJSONLine) -> Void = { item in
            switch item {
            case .line(let n, let b): out.append("\(n):\(String(decoding: b, as: UTF8.self))")
            case .tooLong(let e): out.append("\(e.line ?? -1):too long")
            }
        }
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            s.feed(Array(bytes[i..<min(i + chunk, bytes.count)]), body)
            i += chunk
        }
        s.finish(body)
        return out
    }

    @Test func numbersLinesAndSkipsBlanks() {
        let text = "a\n\nb\r\n  \r\nc"
        for chunk in 1...text.utf8.count {
            #expect(lines(text, chunk: chunk) == ["1:a", "3:b", "5:c"], "chunk \(chunk)")
        }
    }

    @Test func finalNewlineAddsNoLine() {
        #expect(lines("a\nb\n", chunk: 100) == ["1:a", "2:b"])
        #expect(lines("", chunk: 100) == [])
        #expect(lines("\n\n", chunk: 1) == [])
    }

    @Test func overlongLinesAreSkippedWithBoundedMemory() {
        let text = "short\n" + String(repeating: "x", count: 25) + "\nok\n" + String(repeating: "y", count: 11) + "\nend\n" + String(repeating: "z", count: 30)
        for chunk in [1, 3, 7, 10, 64, 1000] {
            #expect(lines(text, chunk: chunk, max: 10) == ["1:short", "2:too long", "3:ok", "4:too long", "5:end", "6:too long"],
                    "chunk \(chunk)")
        }
        // Exactly the limit is fine; the limit does not count "\r".
        #expect(lines("0123456789\r\n0123456789", chunk: 4, max: 10) == ["1:0123456789", "2:0123456789"])
    }

    @Test func memoryStaysBoundedOnAHugeLine() {
        var s = NDJSONLineSplitter(maxLineLength: 1000)
        var items: [String] = []
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var maxBuffered = 0
        for _ in 0..<2560 {  // a 10 MiB line
            s.feed(chunk) { _ in items.append("?") }
            maxBuffered = max(maxBuffered, s.bufferedByteCount)
        }
        s.feed(Array("\nok\n".utf8)) { item in
            switch item {
            case .line(let n, let b): items.append("\(n):\(String(decoding: b, as: UTF8.self))")
            case .tooLong(let e): items.append("\(e.line ?? -1):\(e.detail ?? "")")
            }
        }
        #expect(maxBuffered <= 1001)
        #expect(items == ["1:10485760 bytes", "2:ok"])
    }

    @Test func tooLongErrorSaysHowLong() {
        var s = NDJSONLineSplitter(maxLineLength: 4)
        var errors: [EventError] = []
        s.feed(Array("abcdefgh\n".utf8)) { if case .tooLong(let e) = $0 { errors.append(e) } }
        #expect(errors.count == 1)
        #expect(errors.first?.description == "line 1: line over 4 bytes (8 bytes)")
        #expect(errors.first?.code == .tooLarge)
    }
}

@Suite("NDJSON events")
struct NDJSONEventTests {
    @Test func parsesLinesAndCollectsEveryError() {
        let text = [line("a"), "", line("b", extra: #","x":1"#), line("c"), "{\"id\":", line("d", extra: #","duration_s":-1"#)]
            .joined(separator: "\n")
        let b = NDJSONBatchParser.parse(Array(text.utf8))
        #expect(b.events.map(\.id) == ["a", "c"])
        #expect(b.lines == [1, 4])
        #expect(b.errors.map(\.line) == [3, 5, 6])
        #expect(b.errors.map(\.code) == [.unknownField, .invalidJSON, .badValue])
        #expect(b.errors.map(\.field) == ["x", nil, "duration_s"])
    }

    @Test func crlfAndByteOrderMark() {
        let text = "\u{FEFF}" + line("a") + "\r\n" + line("b") + "\r\n"
        let b = NDJSONBatchParser.parse(Array(text.utf8))
        #expect(b.events.map(\.id) == ["a", "b"])
        #expect(b.errors.isEmpty)
    }

    @Test func truncatedLines() {
        let full = line("a")
        var text = ""
        for cut in stride(from: 1, to: full.utf8.count, by: 1) {
            text += String(decoding: Array(full.utf8)[0..<cut], as: UTF8.self) + "\n"
        }
        let b = NDJSONBatchParser.parse(Array(text.utf8))
        #expect(b.events.isEmpty)
        #expect(b.errors.count == full.utf8.count - 1)
        #expect(b.errors.allSatisfy { $0.code == .invalidJSON })
        #expect(b.errors.map(\.line) == Array(1..<full.utf8.count))
    }

    @Test func invalidUTF8IsALineError() {
        var bytes = Array(line("a").utf8) + [0x0A]
        bytes += Array(#"{"id":"b","type":"call","subject":"s"#.utf8) + [0xC3, 0x28] + Array(#"","at":0}"#.utf8) + [0x0A]
        bytes += Array(line("c").utf8)
        let b = NDJSONBatchParser.parse(bytes)
        #expect(b.events.map(\.id) == ["a", "c"])
        #expect(b.errors.map(\.line) == [2])
        #expect(b.errors.first?.code == .invalidJSON)
        #expect(b.errors.first?.detail == "invalid UTF-8 at byte 36")
    }

    @Test func hugeNumbers() {
        let nines = String(repeating: "9", count: 400)
        let text = [
            #"{"id":"a","type":"call","subject":"s","at":\#(nines)}"#,
            #"{"id":"b","type":"call","subject":"s","at":1e400}"#,
            line("c", extra: #","duration_s":\#(nines)"#),
            line("d", extra: #","amount":\#(nines).99"#),
            line("e", extra: #","amount":0.\#(nines)"#),
        ].joined(separator: "\n")
        let b = NDJSONBatchParser.parse(Array(text.utf8))
        #expect(b.events.isEmpty)
        #expect(b.errors.map(\.code) == [.badTimestamp, .badTimestamp, .tooLarge, .tooLarge, .badValue])
        #expect(b.errors.map(\.line) == [1, 2, 3, 4, 5])
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deepArray = String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000)
        let deepAttrs = line("a", extra: #","attrs":"# + String(repeating: #"{"a":"#, count: 500) + "1" + String(repeating: "}", count: 500))
        let deepUnknown = line("b", extra: #","zz":"# + String(repeating: "[", count: 1500))
        let b = NDJSONBatchParser.parse(Array([deepArray, deepAttrs, deepUnknown].joined(separator: "\n").utf8))
        #expect(b.events.isEmpty)
        #expect(b.errors.map(\.line) == [1, 2, 3])
        #expect(b.errors.map(\.code) == [.invalidJSON, .wrongType, .unknownField])
        #expect(b.errors.first?.detail?.hasPrefix("nesting deeper than 64") == true)
    }

    @Test func chunkingDoesNotChangeResults() {
        let text = (0..<40).map { i in
            i % 7 == 3 ? "{bad json \(i)" : line("e\(i)", extra: i % 5 == 0 ? #","concern":"ça va? \#(i)""# : "")
        }.joined(separator: "\r\n")
        let bytes = Array(text.utf8)
        let whole = summary(NDJSONBatchParser.parse(bytes))
        #expect(whole.count == 40)
        for chunk in [1, 2, 3, 5, 17, 64, 100, 4096] {
            #expect(summary(parseChunked(bytes, chunk: chunk)) == whole, "chunk \(chunk)")
        }
    }

    @Test func overlongLineAmongEvents() {
        let long = line("big", extra: #","concern":""# + String(repeating: "x", count: 5000) + "\"")
        let text = [line("a"), long, line("b")].joined(separator: "\n")
        let small = parseChunked(Array(text.utf8), chunk: 333, maxLineLength: 1000)
        #expect(small.events.map(\.id) == ["a", "b"])
        #expect(small.errors.map(\.line) == [2])
        #expect(small.errors.first?.reason == "line over 1000 bytes")
        // Under the default line limit the same line fails the 4 KiB event limit instead.
        let big = parseChunked(Array(text.utf8), chunk: 333)
        #expect(big.errors.map(\.reason) == ["event over 4 KiB"])
    }

    /// Seeded random mutations of valid lines: the parser never crashes, every line gives exactly
    /// one event or one line-numbered error, and chunking changes nothing.
    @Test func randomMutationsNeverCrash() throws {
        var rng = ParsingRNG(seed: 2026)
        let seeds = [
            line("a"),
            line("b", extra: #","channel":"sms","amount":12.50,"attrs":{"k":"v","é":"😀"},"resolved":true"#),
            #"{"id":"c","type":"booking","subject":"s","at":"2026-03-01T14:05:00.123+02:00","scheduled_for":"2026-03-02T09:00:00Z","appointment":"ap\u00e91"}"#,
            #"{"id":"d","type":"message_sent","subject":"s","at":0,"message":"m\"1","concern":"tooth \\ ache"}"#,
        ]
        let interesting: [UInt8] = Array(#"{}[]":,\"-.0123456789eEtrufalsn "#.utf8) + [0x00, 0x0A, 0x0D, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        var doc: [UInt8] = []
        for _ in 0..<3000 {
            var b = Array(seeds[Int(rng.next() % UInt64(seeds.count))].utf8)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let pos = Int(rng.next() % UInt64(b.count))
                let byte = rng.next() % 2 == 0 ? interesting[Int(rng.next() % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: rng.next())
                switch rng.next() % 4 {
                case 0: b[pos] = byte
                case 1: b.insert(byte, at: pos)
                case 2: if b.count > 1 { b.remove(at: pos) }
                default: b[pos] ^= UInt8(1) << UInt8(rng.next() % 8)
                }
            }
            doc += b
            doc.append(0x0A)
        }
        // Count the non-blank lines independently of the splitter.
        var expected: [Int] = []
        for (i, l) in doc.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if l.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) { expected.append(i + 1) }
        }
        let whole = NDJSONBatchParser.parse(doc)
        #expect(whole.events.count + whole.errors.count == expected.count)
        #expect((whole.lines + whole.errors.compactMap(\.line)).sorted() == expected)
        #expect(whole.errors.allSatisfy { $0.line != nil && !$0.reason.isEmpty })
        #expect(whole.errors.count > 1000)  // the mutations do break most lines
        #expect(summary(parseChunked(doc, chunk: 4093)) == summary(whole))
        // Whatever was accepted exports and parses back to itself.
        for e in whole.events {
            #expect(try EventParser.parse(EventJSON.encode(e)) == e)
        }
    }
}
