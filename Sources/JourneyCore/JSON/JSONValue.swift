/// A JSON number kept as its literal text, so integers and decimals stay exact.
///
/// Two numbers are equal when their literals are (`1.0` and `1` differ); use `int64` or
/// `double` to compare values.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal as it appeared in the input (valid RFC 8259 number grammar).
    public let literal: String
    /// The literal has a fraction part (`1.5`).
    public let hasFraction: Bool
    /// The literal has an exponent (`1e3`).
    public let hasExponent: Bool

    /// A number from a literal already checked against the JSON grammar.
    init(literal: String, hasFraction: Bool, hasExponent: Bool) {
        self.literal = literal
        self.hasFraction = hasFraction
        self.hasExponent = hasExponent
    }

    /// A number for an integer.
    public init(_ v: Int64) {
        self.init(literal: String(v), hasFraction: false, hasExponent: false)
    }

    /// True when the literal is an integer (no fraction, no exponent).
    public var isInteger: Bool { !hasFraction && !hasExponent }

    /// The value when the literal is an integer that fits in Int64, else nil.
    public var int64: Int64? { isInteger ? Int64(literal) : nil }

    /// The value as a Double (nearest; may lose precision).
    public var double: Double { Double(literal) ?? .nan }

    /// The literal.
    public var description: String { literal }
}

/// A member of a JSON object: key and value, in input order.
public struct JSONMember: Sendable, Hashable {
    /// The member's key.
    public var key: String
    /// The member's value.
    public var value: JSONValue

    /// A member of `key` and `value`.
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A parsed JSON document (RFC 8259). Objects keep their member order.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, kept as its literal.
    case number(JSONNumber)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, its members in input order (keys unique).
    case object([JSONMember])

    /// The value of `key` when this is an object that has it, else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer, when this is an integer number that fits in Int64.
    public var int64Value: Int64? {
        if case .number(let n) = self { return n.int64 }
        return nil
    }

    /// The bool, when this is a bool.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members, when this is an object.
    public var objectValue: [JSONMember]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// True for `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Writes this value as compact JSON (numbers as their literal, keys in order).
    package func write(into w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .number(let n): w.raw(n.literal.utf8)
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray()
            for v in a { v.write(into: &w) }
            w.endArray()
        case .object(let o):
            w.beginObject()
            for m in o {
                w.key(m.key)
                m.value.write(into: &w)
            }
            w.endObject()
        }
    }

    /// The length in bytes of `jsonText`, computed without writing it.
    package var compactSize: Int {
        switch self {
        case .null: return 4
        case .bool(let b): return b ? 4 : 5
        case .number(let n): return n.literal.utf8.count
        case .string(let s): return JSONValue.escapedSize(s)
        case .array(let a):
            var n = 2 + Swift.max(0, a.count - 1)
            for v in a { n += v.compactSize }
            return n
        case .object(let o):
            var n = 2 + Swift.max(0, o.count - 1)
            for m in o { n += JSONValue.escapedSize(m.key) + 1 + m.value.compactSize }
            return n
        }
    }

    /// Size of a string as `JSONWriter` escapes it, quotes included.
    static func escapedSize(_ s: String) -> Int {
        var n = 2
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: n += 2
            case 0..<0x20: n += 6
            default: n += 1
            }
        }
        return n
    }

    /// This value as compact JSON text.
    public var jsonText: String {
        var w = JSONWriter()
        write(into: &w)
        return w.string
    }
}
