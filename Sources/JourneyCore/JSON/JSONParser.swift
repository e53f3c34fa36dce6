/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Rejects invalid UTF-8, unescaped control characters, bad escapes, lone surrogates, leading
/// zeros, trailing garbage and (by default) duplicate object keys. Nesting deeper than
/// `maxDepth` is an error rather than a stack overflow. Errors carry the byte offset.
package struct JSONParser: Sendable {
    /// Maximum nesting of arrays and objects (the top-level container is depth 1).
    package var maxDepth: Int
    /// When false (the default), an object with the same key twice is an error.
    package var allowDuplicateKeys: Bool

    package init(maxDepth: Int = 64, allowDuplicateKeys: Bool = false) {
        self.maxDepth = maxDepth
        self.allowDuplicateKeys = allowDuplicateKeys
    }

    /// Parses one JSON document with the default settings.
    package static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONParser().parse(bytes)
    }

    /// Parses one JSON document from a String's UTF-8 with the default settings.
    package static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try JSONParser().parse(Array(text.utf8))
    }

    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    package func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        let r = bytes.withUnsafeBufferPointer { b in
            Result { () throws(JSONParseError) in try parse(b) }
        }
        return try r.get()
    }

    /// Parses one JSON document from borrowed bytes.
    package func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        try parse(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Parses one JSON document from borrowed bytes.
    package func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var s = JSONScanner(bytes)
        var scratch: [UInt8] = []
        s.skipWhitespace()
        let v = try value(&s, depth: 0, scratch: &scratch)
        s.skipWhitespace()
        guard s.atEnd else { throw s.fail("unexpected characters after the JSON value") }
        return v
    }

    private func value(_ s: inout JSONScanner, depth: Int, scratch: inout [UInt8]) throws(JSONParseError) -> JSONValue {
        s.skipWhitespace()
        guard let c = s.peek() else { throw s.fail("unexpected end of input, expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw s.fail("nesting deeper than \(maxDepth)") }
            s.pos += 1
            var members: [JSONMember] = []
            s.skipWhitespace()
            if s.peek() == UInt8(ascii: "}") {
                s.pos += 1
                return .object(members)
            }
            // Keys are compared as UTF-8 bytes (RFC 8259: code units), not by Unicode
            // canonical equivalence: "é" and "e\u{301}" are two keys.
            var keys: Set<[UInt8]> = []
            while true {
                s.skipWhitespace()
                guard s.peek() == UInt8(ascii: "\"") else { throw s.fail("expected a string key") }
                let keyOffset = s.pos
                let key = try string(&s, scratch: &scratch)
                try s.expect(UInt8(ascii: ":"), "':'")
                let v = try value(&s, depth: depth + 1, scratch: &scratch)
                if !allowDuplicateKeys {
                    // Linear scan while small; a set once objects grow.
                    if members.count < 16 {
                        if members.contains(where: { $0.key.utf8.elementsEqual(key.utf8) }) {
                            throw s.fail("duplicate key \(Quote.short(key))", at: keyOffset)
                        }
                    } else {
                        if keys.isEmpty { keys = Set(members.map { Array($0.key.utf8) }) }
                        guard keys.insert(Array(key.utf8)).inserted else {
                            throw s.fail("duplicate key \(Quote.short(key))", at: keyOffset)
                        }
                    }
                }
                members.append(JSONMember(key, v))
                s.skipWhitespace()
                guard let d = s.peek() else { throw s.fail("unexpected end of input in object") }
                s.pos += 1
                if d == UInt8(ascii: "}") { return .object(members) }
                guard d == UInt8(ascii: ",") else { throw s.fail("expected ',' or '}'", at: s.pos - 1) }
            }
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw s.fail("nesting deeper than \(maxDepth)") }
            s.pos += 1
            var elements: [JSONValue] = []
            s.skipWhitespace()
            if s.peek() == UInt8(ascii: "]") {
                s.pos += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(&s, depth: depth + 1, scratch: &scratch))
                s.skipWhitespace()
                guard let d = s.peek() else { throw s.fail("unexpected end of input in array") }
                s.pos += 1
                if d == UInt8(ascii: "]") { return .array(elements) }
                guard d == UInt8(ascii: ",") else { throw s.fail("expected ',' or ']'", at: s.pos - 1) }
            }
        case UInt8(ascii: "\""):
            return .string(try string(&s, scratch: &scratch))
        case UInt8(ascii: "t"):
            try s.scanLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try s.scanLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try s.scanLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let t = try s.scanNumber()
            return .number(JSONNumber(
                literal: String(validatedUTF8: s.slice(t.start, t.end)),
                hasFraction: t.hasFraction, hasExponent: t.hasExponent))
        default:
            throw s.fail("unexpected character, expected a value")
        }
    }

    private func string(_ s: inout JSONScanner, scratch: inout [UInt8]) throws(JSONParseError) -> String {
        let t = try s.scanString()
        if !t.escaped { return String(validatedUTF8: s.slice(t.start, t.end)) }
        scratch.removeAll(keepingCapacity: true)
        s.appendDecoded(t, to: &scratch)
        return String(decoding: scratch, as: UTF8.self)
    }
}
