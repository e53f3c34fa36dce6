import Testing
@testable import JourneyCore

@Suite("JSON parser")
struct JSONParserTests {
    private func parse(_ s: String) throws(JSONParseError) -> JSONValue { try JSONParser.parse(s) }

    private func rejects(_ bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONParser.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    private func rejects(_ s: String) -> JSONParseError? { rejects(Array(s.utf8)) }

    @Test func parsesScalarsAndContainers() throws {
        #expect(try parse("null") == .null)
        #expect(try parse(" true ") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("\"hi\"") == .string("hi"))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([]))
        let v = try parse(#"{"b":[1,-2.50,3e2],"a":{"x":null}}"#)
        guard case .object(let m) = v else { Issue.record("not an object"); return }
        #expect(m.map(\.key) == ["b", "a"])  // input order kept
        #expect(v["b"]?.arrayValue?.count == 3)
        #expect(v["a"]?["x"] == .null)
    }

    @Test func numbersKeepTheirLiteral() throws {
        let v = try parse("[12345678901234567890, -2.50, 1E+3, 0, -0]")
        let lits = v.arrayValue!.map { (x: JSONValue) -> String in
            if case .number(let n) = x { return n.literal }
            return "?"
        }
        #expect(lits == ["12345678901234567890", "-2.50", "1E+3", "0", "-0"])
        #expect(v.arrayValue![0].int64Value == nil)  // overflows Int64
        #expect(v.arrayValue![1].int64Value == nil)  // has a fraction
        #expect(v.arrayValue![3].int64Value == 0)
    }

    @Test func decodesEscapes() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u00e9\u20AC""#) == .string("é€"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse("\"\\u0000\"") == .string("\u{0}"))
        #expect(try parse("\"é😀\"") == .string("é😀"))
    }

    @Test func rejectsBadSyntax() {
        #expect(rejects("") != nil)
        #expect(rejects("{") != nil)
        #expect(rejects("[1,]") != nil)
        #expect(rejects("{\"a\":1,}") != nil)
        #expect(rejects("{a:1}") != nil)
        #expect(rejects("'a'") != nil)
        #expect(rejects("tru") != nil)
        #expect(rejects("nul") != nil)
        #expect(rejects("[1 2]") != nil)
        #expect(rejects("NaN") != nil)
    }

    @Test func rejectsBadNumbers() {
        #expect(rejects("01")?.reason == "leading zeros are not allowed")
        #expect(rejects("-01") != nil)
        #expect(rejects("+1") != nil)
        #expect(rejects("1.") != nil)
        #expect(rejects(".5") != nil)
        #expect(rejects("1e") != nil)
        #expect(rejects("1e+") != nil)
        #expect(rejects("-") != nil)
        #expect(rejects("0x10") != nil)
    }

    @Test func rejectsTrailingGarbageWithOffset() {
        let e = rejects("{} x")
        #expect(e?.offset == 3)
        #expect(e?.reason == "unexpected characters after the JSON value")
        #expect(rejects("1 2")?.offset == 2)
    }

    @Test func rejectsBadStrings() {
        #expect(rejects("\"a\u{1}b\"")?.reason == "unescaped control character in string")
        #expect(rejects("\"a\nb\"")?.offset == 2)
        #expect(rejects(#""\x""#)?.reason == "invalid escape sequence")
        #expect(rejects(#""\u12g4""#) != nil)
        #expect(rejects(#""\ud800""#)?.reason == "lone high surrogate escape")
        #expect(rejects(#""\ud800\u0041""#)?.reason == "lone high surrogate escape")
        #expect(rejects(#""\udc00""#)?.reason == "lone low surrogate escape")
        #expect(rejects("\"abc") != nil)
    }

    @Test func rejectsInvalidUTF8() {
        let q = UInt8(ascii: "\"")
        // Bare continuation byte, overlong "/", UTF-8-encoded surrogate, above U+10FFFF, truncated.
        let bad: [[UInt8]] = [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]]
        for seq in bad {
            let e = rejects([q, 0x61] + seq + [q])
            #expect(e?.offset == 2, "sequence \(seq)")
        }
        // Outside strings, any non-ASCII byte is a syntax error.
        #expect(rejects([0xC3, 0xA9]) != nil)
        // The largest valid scalar is fine.
        #expect(rejects([q, 0xF4, 0x8F, 0xBF, 0xBF, q]) == nil)
    }

    @Test func rejectsDuplicateKeysUnlessAllowed() throws {
        #expect(rejects(#"{"a":1,"b":2,"a":3}"#)?.reason == "duplicate key \"a\"")
        // Keys are compared as bytes, not by canonical equivalence.
        #expect(rejects(#"{"\u00e9":1,"e\u0301":2}"#) == nil)
        #expect(rejects(#"{"a":1,"\u0061":2}"#) != nil)  // same key after unescaping
        // Objects large enough to use the set path.
        var big = "{"
        for i in 0..<40 { big += "\"k\(i)\":\(i)," }
        #expect(rejects(big + "\"k7\":0}") != nil)
        #expect(rejects(big + "\"k40\":0}") == nil)
        let p = JSONParser(allowDuplicateKeys: true)
        let v = try p.parse(Array(#"{"a":1,"a":2}"#.utf8))
        #expect(v.objectValue?.count == 2)
    }

    @Test func depthLimitIsAnErrorNotACrash() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(rejects(ok) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(rejects(deep)?.reason == "nesting deeper than 64")
        let huge = String(repeating: "{\"a\":", count: 100_000)
        #expect(rejects(huge) != nil)
    }

    @Test func writesBackCompactJSON() throws {
        let text = #"{"a":[1,2.50,true,null],"b":"x\"y","c":{}}"#
        #expect(try parse(text).jsonText == text)
    }

    @Test func compactSizeMatchesWrittenText() throws {
        for text in [#"{"a":[1,2.50,true,null],"b":"x\"y\\\n\u0001é","c":{},"d":[]}"#, "[]", "false", #""""#, "[[1],[2,3]]"] {
            let v = try parse(text)
            #expect(v.compactSize == v.jsonText.utf8.count, "\(text)")
        }
    }
}

@Suite("JSON parser properties")
struct JSONParserPropertyTests {
    private static let scalars: [Unicode.Scalar] = ["a", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "é", "€", "😀", "\u{FFFF}", " "]
    private static let numbers = ["0", "-0", "12", "-7", "1.5", "-0.25", "1e3", "2E-7", "123456789012345678901234567890"]

    private func randomValue(_ rng: inout ParsingRNG, depth: Int) -> JSONValue {
        let pick = depth >= 4 ? rng.next() % 4 : rng.next() % 6
        switch pick {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2:
            let lit = Self.numbers[Int(rng.next() % UInt64(Self.numbers.count))]
            guard case .number(let n) = try! JSONParser.parse(lit) else { return .null }
            return .number(n)
        case 3:
            var v = String.UnicodeScalarView()
            for _ in 0..<(rng.next() % 6) { v.append(Self.scalars[Int(rng.next() % UInt64(Self.scalars.count))]) }
            return .string(String(v))
        case 4: return .array((0..<(rng.next() % 4)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            return .object((0..<(rng.next() % 4)).map { i in JSONMember("k\(i)", randomValue(&rng, depth: depth + 1)) })
        }
    }

    @Test func writeThenParseIsIdentity() throws {
        var rng = ParsingRNG(seed: 11)
        for _ in 0..<1000 {
            let v = randomValue(&rng, depth: 0)
            #expect(try JSONParser.parse(v.jsonText) == v)
        }
    }

    /// Seeded byte mutations of valid documents: never a crash, and whatever still parses
    /// writes back to text that parses to the same value.
    @Test func mutationsNeverCrash() throws {
        var rng = ParsingRNG(seed: 12)
        var accepted = 0
        for _ in 0..<3000 {
            var b = Array(randomValue(&rng, depth: 0).jsonText.utf8)
            guard !b.isEmpty else { continue }
            for _ in 0..<(1 + rng.next() % 3) {
                let pos = Int(rng.next() % UInt64(b.count))
                let byte = UInt8(truncatingIfNeeded: rng.next())
                switch rng.next() % 3 {
                case 0: b[pos] = byte
                case 1: b.insert(byte, at: pos)
                default: if b.count > 1 { b.remove(at: pos) }
                }
            }
            if let v = try? JSONParser.parse(b) {
                accepted += 1
                #expect(try JSONParser.parse(v.jsonText) == v)
            }
        }
        #expect(accepted > 0)
    }
}

@Suite("JSON writer nesting")
struct JSONWriterNestingTests {
    /// The escaping of a string, byte by byte, as JSON (RFC 8259) has it: quote, backslash
    /// and control characters escaped, every other byte as it is.
    static func reference(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += Array(#"\""#.utf8)
            case 0x5C: out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0..<0x20: out += Array((#"\u00"# + String(b, radix: 16).leftPadded(to: 2)).utf8)
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    @Test func stringsAreEscapedExactlyAndReadBack() throws {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "plain text", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "≥", "🦷", " "]
        var cases = ["", "\"", "\\", "\"leading", "trailing\\", "\u{1}\u{2}", "no escapes at all, just text"]
        for _ in 0..<300 {
            cases.append((0..<Int.random(in: 1...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined())
        }
        for c in cases {
            var w = JSONWriter()
            w.string(c)
            // Multi-byte characters pass through whole; compare as bytes.
            #expect(w.bytes == JSONWriterNestingTests.reference(c), "\(c.debugDescription)")
            #expect(try JSONParser.parse(w.string).stringValue == c, "\(c.debugDescription)")
        }
    }

    @Test func emptyContainerAsKeyValueThenMoreValues() throws {
        let text = #"[{"k":{}},1,{"a":[],"b":2}]"#
        #expect(try JSONParser.parse(text).jsonText == text)
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: Swift.max(0, n - count)) + self }
}
