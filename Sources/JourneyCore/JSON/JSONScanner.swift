/// Where and why a JSON text is not valid RFC 8259 JSON.
package struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset (0-based) of the offending byte in the input.
    package var offset: Int
    /// What is wrong, in a few words (`"unescaped control character in string"`).
    package var reason: String

    package init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    package var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// The byte-level lexer shared by `JSONParser` and `EventParser`: strict RFC 8259 tokens over
/// borrowed UTF-8 bytes, with no allocation unless a string has escapes.
@usableFromInline
struct JSONScanner {
    /// A scanned string: `start..<end` is its raw content between the quotes.
    struct StringToken {
        var start: Int
        var end: Int
        /// The content has backslash escapes, so it must be decoded before use.
        var escaped: Bool
        /// Number of Unicode scalars of the decoded string.
        var scalars: Int
    }

    /// A scanned number: `start..<end` is its literal text.
    struct NumberToken {
        var start: Int
        var end: Int
        var hasFraction: Bool
        var hasExponent: Bool
    }

    let p: UnsafeBufferPointer<UInt8>
    var pos: Int = 0

    init(_ p: UnsafeBufferPointer<UInt8>) {
        self.p = p
    }

    var atEnd: Bool { pos >= p.count }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < p.count {
            let c = p[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    /// The byte at `pos`, or nil at the end.
    @inline(__always)
    func peek() -> UInt8? { pos < p.count ? p[pos] : nil }

    func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, reason: reason)
    }

    /// Consumes `byte` (after whitespace) or fails with `expected`.
    mutating func expect(_ byte: UInt8, _ expected: String) throws(JSONParseError) {
        skipWhitespace()
        guard pos < p.count else { throw fail("unexpected end of input, expected \(expected)") }
        guard p[pos] == byte else { throw fail("expected \(expected)") }
        pos += 1
    }

    /// Consumes the literal `true`, `false` or `null` starting at `pos`.
    mutating func scanLiteral(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= p.count else { throw fail("invalid literal") }
        let w = word.utf8Start
        for i in 0..<n where p[pos + i] != w[i] {
            throw fail("invalid literal")
        }
        pos += n
    }

    /// Scans a string whose opening quote is at `pos`; leaves `pos` after the closing quote.
    /// Validates UTF-8, escapes and surrogate pairs; rejects unescaped control characters.
    mutating func scanString() throws(JSONParseError) -> StringToken {
        let open = pos
        pos += 1
        let start = pos
        var escaped = false
        var scalars = 0
        while true {
            // Fast path: a run of plain printable ASCII, one scalar per byte.
            let run = pos
            while pos < p.count {
                let c = p[pos]
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { break }
                pos += 1
            }
            scalars += pos - run
            guard pos < p.count else { throw fail("unterminated string", at: open) }
            let c = p[pos]
            if c == UInt8(ascii: "\"") {
                let token = StringToken(start: start, end: pos, escaped: escaped, scalars: scalars)
                pos += 1
                return token
            } else if c == UInt8(ascii: "\\") {
                escaped = true
                guard pos + 1 < p.count else { throw fail("unterminated string", at: open) }
                switch p[pos + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    pos += 2
                case UInt8(ascii: "u"):
                    let u = try hex4(at: pos + 2)
                    if u >= 0xDC00 && u <= 0xDFFF { throw fail("lone low surrogate escape") }
                    if u >= 0xD800 && u <= 0xDBFF {
                        guard pos + 11 < p.count, p[pos + 6] == UInt8(ascii: "\\"), p[pos + 7] == UInt8(ascii: "u") else {
                            throw fail("lone high surrogate escape")
                        }
                        let low = try hex4(at: pos + 8)
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("lone high surrogate escape") }
                        pos += 12
                    } else {
                        pos += 6
                    }
                default:
                    throw fail("invalid escape sequence")
                }
                scalars += 1
            } else if c < 0x20 {
                throw fail("unescaped control character in string")
            } else if c < 0x80 {
                pos += 1
                scalars += 1
            } else {
                pos = try validateUTF8Sequence(at: pos)
                scalars += 1
            }
        }
    }

    private func hex4(at i: Int) throws(JSONParseError) -> UInt32 {
        guard i + 4 <= p.count else { throw fail("truncated \\u escape", at: i) }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = p[i + k]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape", at: i + k)
            }
            v = v << 4 | d
        }
        return v
    }

    /// Validates one multi-byte UTF-8 sequence (Unicode Table 3-7: no overlongs, no surrogates,
    /// nothing above U+10FFFF) and returns the index after it.
    private func validateUTF8Sequence(at i: Int) throws(JSONParseError) -> Int {
        let b0 = p[i]
        let n: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; hi = 0x9F
        case 0xF0: n = 4; lo = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; hi = 0x8F
        default: throw fail("invalid UTF-8", at: i)
        }
        guard i + n <= p.count else { throw fail("invalid UTF-8 (truncated sequence)", at: i) }
        let b1 = p[i + 1]
        guard b1 >= lo && b1 <= hi else { throw fail("invalid UTF-8", at: i) }
        for k in 2..<max(n, 2) where p[i + k] & 0xC0 != 0x80 {
            throw fail("invalid UTF-8", at: i)
        }
        return i + n
    }

    /// Scans a number starting at `pos` per the RFC 8259 grammar (no leading zeros, no `+`,
    /// digits required around `.` and after `e`).
    mutating func scanNumber() throws(JSONParseError) -> NumberToken {
        let start = pos
        var hasFraction = false
        var hasExponent = false
        if p[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < p.count, isDigit(p[pos]) else { throw fail("invalid number", at: start) }
        if p[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < p.count, isDigit(p[pos]) { throw fail("leading zeros are not allowed", at: start) }
        } else {
            while pos < p.count, isDigit(p[pos]) { pos += 1 }
        }
        if pos < p.count, p[pos] == UInt8(ascii: ".") {
            hasFraction = true
            pos += 1
            guard pos < p.count, isDigit(p[pos]) else { throw fail("digit expected after decimal point") }
            while pos < p.count, isDigit(p[pos]) { pos += 1 }
        }
        if pos < p.count, p[pos] == UInt8(ascii: "e") || p[pos] == UInt8(ascii: "E") {
            hasExponent = true
            pos += 1
            if pos < p.count, p[pos] == UInt8(ascii: "+") || p[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < p.count, isDigit(p[pos]) else { throw fail("digit expected in exponent") }
            while pos < p.count, isDigit(p[pos]) { pos += 1 }
        }
        return NumberToken(start: start, end: pos, hasFraction: hasFraction, hasExponent: hasExponent)
    }

    @inline(__always)
    func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    /// The raw bytes of a token range.
    @inline(__always)
    func slice(_ start: Int, _ end: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: p[start..<end])
    }

    /// Appends the decoded UTF-8 of an already-validated string token to `out`.
    func appendDecoded(_ t: StringToken, to out: inout [UInt8]) {
        let capacity = t.end - t.start  // decoding never grows the text
        let old = out.count
        out.append(contentsOf: repeatElement(0, count: capacity))
        let n = out.withUnsafeMutableBufferPointer { decode(t, into: $0.baseAddress! + old) }
        out.removeLast(capacity - n)
    }

    /// Writes the decoded UTF-8 of an already-validated string token to `out`, which must have
    /// room for `t.end - t.start` bytes; returns the number of bytes written.
    func decode(_ t: StringToken, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        func put(_ b: UInt8) {
            out[n] = b
            n += 1
        }
        var i = t.start
        while i < t.end {
            let c = p[i]
            guard c == UInt8(ascii: "\\") else {
                put(c)
                i += 1
                continue
            }
            let e = p[i + 1]
            switch e {
            case UInt8(ascii: "b"): put(0x08); i += 2
            case UInt8(ascii: "f"): put(0x0C); i += 2
            case UInt8(ascii: "n"): put(0x0A); i += 2
            case UInt8(ascii: "r"): put(0x0D); i += 2
            case UInt8(ascii: "t"): put(0x09); i += 2
            case UInt8(ascii: "u"):
                // Validated by scanString, so these cannot fail.
                var u = (try? hex4(at: i + 2)) ?? 0xFFFD
                i += 6
                if u >= 0xD800 && u <= 0xDBFF {
                    let low = (try? hex4(at: i + 2)) ?? 0xDC00
                    u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                switch u {
                case 0..<0x80:
                    put(UInt8(u))
                case 0x80..<0x800:
                    put(UInt8(0xC0 | u >> 6))
                    put(UInt8(0x80 | u & 0x3F))
                case 0x800..<0x10000:
                    put(UInt8(0xE0 | u >> 12))
                    put(UInt8(0x80 | u >> 6 & 0x3F))
                    put(UInt8(0x80 | u & 0x3F))
                default:
                    put(UInt8(0xF0 | u >> 18))
                    put(UInt8(0x80 | u >> 12 & 0x3F))
                    put(UInt8(0x80 | u >> 6 & 0x3F))
                    put(UInt8(0x80 | u & 0x3F))
                }
            default: put(e); i += 2  // " \ /
            }
        }
        return n
    }
}

extension String {
    /// A String from bytes already validated as UTF-8.
    @inline(__always)
    init(validatedUTF8 b: UnsafeBufferPointer<UInt8>) {
        self.init(decoding: b, as: UTF8.self)
    }
}
