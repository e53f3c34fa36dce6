/// A small, allocation-light JSON writer that produces exactly the output forms of SPEC §5:
/// RFC 3339 UTC times with milliseconds, money with two decimals, `null` for absent values.
///
/// Keys are written in the order they are given, so output is stable and diffable.
package struct JSONWriter: Sendable {
    package private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    package init() {
        bytes.reserveCapacity(256)
    }

    /// The document written so far, as a String.
    package var string: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    // MARK: containers

    package mutating func beginObject() {
        valuePrefix()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }
    package mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }
    package mutating func beginArray() {
        valuePrefix()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }
    package mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"name":`; the next value written is that key's value.
    package mutating func key(_ name: String) {
        separator()
        writeEscaped(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
        // The value that follows must not add a comma, but the one after it must.
        pendingKey = true
    }
    private var pendingKey = false

    private mutating func valuePrefix() {
        if pendingKey {
            pendingKey = false
            needsComma[needsComma.count - 1] = true
        } else {
            separator()
        }
    }

    // MARK: scalars

    package mutating func null() {
        valuePrefix()
        bytes.append(contentsOf: "null".utf8)
    }
    package mutating func bool(_ v: Bool) {
        valuePrefix()
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }
    package mutating func int(_ v: Int64) {
        valuePrefix()
        bytes.append(contentsOf: String(v).utf8)
    }
    package mutating func int(_ v: Int) { int(Int64(v)) }
    package mutating func string(_ v: String) {
        valuePrefix()
        writeEscaped(v)
    }
    package mutating func string(_ v: String?) {
        if let v { string(v) } else { null() }
    }
    /// A ratio or other fractional number, printed with up to `places` decimals (trailing zeros kept).
    package mutating func fixed(_ v: Double, places: Int) {
        valuePrefix()
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (v * scale).rounded()
        let neg = scaled < 0
        let magnitude = Int64(abs(scaled))
        let whole = magnitude / Int64(scale)
        let frac = magnitude % Int64(scale)
        var s = neg ? "-" : ""
        s += String(whole)
        if places > 0 {
            var f = String(frac)
            while f.count < places { f = "0" + f }
            s += "." + f
        }
        bytes.append(contentsOf: s.utf8)
    }
    /// A fractional number in its shortest round-tripping form (`0.25`, `0.3333333333333333`).
    package mutating func double(_ v: Double) {
        valuePrefix()
        if v == v.rounded(), abs(v) < 1e15 {
            bytes.append(contentsOf: String(Int64(v)).utf8)
        } else {
            bytes.append(contentsOf: v.description.utf8)
        }
    }
    /// Money in cents, printed as a number with two decimals (`120.50`).
    package mutating func money(cents: Int64) {
        valuePrefix()
        let neg = cents < 0
        let m = cents.magnitude
        var s = neg ? "-" : ""
        s += String(m / 100)
        s += "."
        let c = m % 100
        s += c < 10 ? "0\(c)" : "\(c)"
        bytes.append(contentsOf: s.utf8)
    }
    /// A time in milliseconds since the epoch, as RFC 3339 UTC with milliseconds.
    package mutating func time(ms: Int64) {
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        Timestamp.appendRFC3339(ms: ms, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    package mutating func time(ms: Int64?) {
        if let ms { time(ms: ms) } else { null() }
    }
    /// Appends an already-serialized JSON value verbatim.
    package mutating func raw(_ json: some Sequence<UInt8>) {
        valuePrefix()
        bytes.append(contentsOf: json)
    }

    // MARK: escaping

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func writeEscaped(_ s: String) {
        Self.appendQuoted(s, to: &bytes)
    }

    /// Appends `s` as a JSON string: quoted, with quotes, backslashes and control characters
    /// escaped (what `string(_:)` writes).
    static func appendQuoted(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            // Runs of bytes that need no escape (most strings are one run) go in one copy.
            var start = 0
            for i in 0..<u.count {
                let b = u[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i]))
                JSONWriter.appendEscape(of: b, to: &bytes)
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends the escape of a byte that needs one: a quote, a backslash or a control character.
    static func appendEscape(of b: UInt8, to bytes: inout [UInt8]) {
        switch b {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
        case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
        default:
            bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48])
            bytes.append(JSONWriter.hex[Int(b >> 4)])
            bytes.append(JSONWriter.hex[Int(b & 15)])
        }
    }
}
