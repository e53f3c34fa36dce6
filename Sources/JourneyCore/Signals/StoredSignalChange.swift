#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the signalled state reads of a stored signal (`Signal.storedBytes`): whose risk set it
/// changed, entered or left, and which rule.
///
/// The store reads every stored signal back at open, so the layout `storedBytes` writes is read
/// in place, without building a JSON value; any other bytes are read as a JSON object line
/// (`Signal.line` and `Signal(json:)`), which decides whether they are a signal at all. Both
/// ways accept the same entries and read the same values.
package struct StoredSignalChange: Sendable, Hashable {
    /// The canonical id the signal is about.
    package var patient: String
    /// Entered or left.
    package var kind: Signal.Kind
    /// The rule that changed.
    package var risk: Risk

    /// A change as given.
    package init(patient: String, kind: Signal.Kind, risk: Risk) {
        self.patient = patient
        self.kind = kind
        self.risk = risk
    }

    /// Reads the stored bytes of the signal numbered `seq`; nil when they are not a signal
    /// object (exactly the entries `Signal(json:)` refuses on the line `Signal.line` makes).
    package init?(seq: UInt64, stored: UnsafeRawBufferPointer) {
        if let change = Self.direct(seq: seq, stored) {
            self = change
            return
        }
        guard let v = try? JSONParser.parse(Signal.line(seq: seq, stored: stored)), let s = try? Signal(json: v) else {
            return nil
        }
        self.init(patient: s.patient, kind: s.kind, risk: s.risk)
    }

    /// Reads the layout `Signal.storedBytes` writes, checking what `Signal(json:)` checks; nil
    /// for any other bytes (whose JSON reading then decides).
    static func direct(seq: UInt64, _ b: UnsafeRawBufferPointer) -> StoredSignalChange? {
        // `Signal(json:)` wants a seq ≥ 1 that fits an Int64.
        guard seq >= 1, seq <= UInt64(Int64.max) else { return nil }
        var r = StoredSignalReader(b)
        guard r.literal(#"{"at":""#) else { return nil }
        // The canonical 24-character form `Timestamp.parse` reads first; another valid form
        // is left to the JSON reading.
        guard let time = r.take(24), Timestamp.parseCanonical(time.bindMemory(to: UInt8.self)) != nil,
              r.literal(#"","patient":""#), let patient = r.string(),
              r.literal(#","signal":""#) else { return nil }
        let kind: Signal.Kind
        if r.literal(#"risk_entered""#) {
            kind = .riskEntered
        } else if r.literal(#"risk_left""#) {
            kind = .riskLeft
        } else {
            return nil
        }
        guard r.literal(#","risk":""#), let risk = r.name(Self.riskNames).map({ Risk.allCases[$0] }),
              r.literal(#","stage":""#), r.name(Self.stageNames) != nil,
              r.literal(#","contactable":["#) else { return nil }
        if !r.literal("]") {
            repeat {
                guard r.literal("\""), r.name(Self.channelNames) != nil else { return nil }
            } while r.literal(",")
            guard r.literal("]") else { return nil }
        }
        guard r.literal("}"), r.atEnd else { return nil }
        return StoredSignalChange(patient: patient, kind: kind, risk: risk)
    }

    /// The names as `storedBytes` writes them, in case order.
    static let riskNames = Risk.allCases.map { Array($0.name.utf8) }
    static let stageNames = Stage.allCases.map { Array($0.name.utf8) }
    static let channelNames = Channel.allCases.map { Array($0.name.utf8) }
}

/// A cursor over the bytes of one stored signal, for `StoredSignalChange.direct`: every read
/// answers false or nil, and leaves the cursor anywhere, when the bytes are not what it wants.
private struct StoredSignalReader {
    let b: UnsafeRawBufferPointer
    var pos = 0

    init(_ b: UnsafeRawBufferPointer) { self.b = b }

    var atEnd: Bool { pos == b.count }

    /// Moves past `text` when the bytes at the cursor are it.
    @inline(__always)
    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard b.count - pos >= n, let base = b.baseAddress, memcmp(base + pos, text.utf8Start, n) == 0 else { return false }
        pos += n
        return true
    }

    /// The next `n` bytes, moved past.
    mutating func take(_ n: Int) -> UnsafeRawBufferPointer? {
        guard b.count - pos >= n else { return nil }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: b[pos..<(pos + n)])
    }

    /// The index in `names` of the name followed by a quote at the cursor, moved past both.
    @inline(__always)
    mutating func name(_ names: [[UInt8]]) -> Int? {
        guard pos < b.count, let base = b.baseAddress,
              let quote = memchr(base + pos, Int32(UInt8(ascii: "\"")), b.count - pos) else { return nil }
        let n = base.distance(to: UnsafeRawPointer(quote)) - pos
        for (i, name) in names.enumerated() where name.count == n {
            if name.withUnsafeBytes({ memcmp($0.baseAddress!, base + pos, n) }) == 0 {
                pos += n + 1
                return i
            }
        }
        return nil
    }

    /// The JSON string whose opening quote is just before the cursor, moved past its closing
    /// quote: the escapes `JSONWriter` writes (and `\/`, `\b`, `\f`, `\u` below U+0080) are
    /// decoded, and the text must be valid UTF-8 with no raw control character, as the JSON
    /// reader requires; nil for anything else.
    mutating func string() -> String? {
        let start = pos
        var escaped = false
        var ascii = true
        while pos < b.count {
            let c = b[pos]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { return nil }
            if c >= 0x80 { ascii = false }
            if c == UInt8(ascii: "\\") {
                escaped = true
                // The escape's letter is never a quote: it cannot end the string.
                pos += 1
            }
            pos += 1
        }
        guard pos < b.count else { return nil }
        let raw = UnsafeRawBufferPointer(rebasing: b[start..<pos])
        pos += 1
        if !escaped {
            let bytes = raw.bindMemory(to: UInt8.self)
            return ascii ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let c = raw[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { return nil }
            switch raw[i + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(raw[i + 1])
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard i + 6 <= raw.count, let u = Self.hex4(UnsafeRawBufferPointer(rebasing: raw[(i + 2)..<(i + 6)])),
                      u < 0x80 else { return nil }
                out.append(UInt8(u))
                i += 6
                continue
            default:
                return nil
            }
            i += 2
        }
        return ascii ? String(decoding: out, as: UTF8.self) : String(validating: out, as: UTF8.self)
    }

    /// Four hex digits (either case), nil for anything else.
    private static func hex4(_ b: UnsafeRawBufferPointer) -> UInt32? {
        var v: UInt32 = 0
        for c in b {
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }
}
