/// Why an event was rejected, with what a user needs to fix the input: the line or batch index,
/// the field, the offending value and the rule it broke.
///
/// `description` reads like
/// `line 12: field "at": bad timestamp "2026-13-01T00:00:00Z" (month out of range)`.
public struct EventError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable error code (`"bad_timestamp"`, `"unknown_field"`, …).
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The snake_case name (`invalid_json`, `missing_field`, …).
        public let rawValue: String
        /// A code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The snake_case name.
        public var description: String { rawValue }

        /// Not valid JSON (syntax, UTF-8, escapes, nesting).
        public static let invalidJSON = Code(rawValue: "invalid_json")
        /// A top-level field the schema does not name.
        public static let unknownField = Code(rawValue: "unknown_field")
        /// A key given twice in one object.
        public static let duplicateKey = Code(rawValue: "duplicate_key")
        /// A required field is absent or null.
        public static let missingField = Code(rawValue: "missing_field")
        /// A field of the wrong JSON type (a number where a string is expected, …).
        public static let wrongType = Code(rawValue: "wrong_type")
        /// A string longer than its limit.
        public static let tooLong = Code(rawValue: "too_long")
        /// A timestamp that is neither RFC 3339 with offset nor integer epoch milliseconds in range.
        public static let badTimestamp = Code(rawValue: "bad_timestamp")
        /// A value outside its allowed set or range (unknown type, negative duration, …).
        public static let badValue = Code(rawValue: "bad_value")
        /// The event, a line, `attrs` or a number is over its size limit.
        public static let tooLarge = Code(rawValue: "too_large")
    }

    /// The kind of error, for programs.
    public var code: Code
    /// 1-based line number, set by the NDJSON reader.
    public var line: Int?
    /// Position in a batch array (0-based), set by batch validation.
    public var index: Int?
    /// The field concerned (`"at"`, `"attrs"`), nil for whole-event problems.
    public var field: String?
    /// The offending value as text, truncated for display.
    public var value: String?
    /// The rule broken, in a few words (`"bad timestamp"`).
    public var reason: String
    /// Extra detail (`"month out of range"`), shown in parentheses.
    public var detail: String?

    /// Longest `value` kept, in Unicode scalars; longer values end with `…`.
    package static let maxValueDisplay = 80

    package init(
        _ code: Code, _ reason: String, field: String? = nil, value: String? = nil,
        detail: String? = nil, line: Int? = nil, index: Int? = nil
    ) {
        self.code = code
        self.reason = reason
        self.field = field
        self.value = value.map(EventError.truncated)
        self.detail = detail
        self.line = line
        self.index = index
    }

    /// A JSON syntax error, as an event error.
    package init(_ json: JSONParseError, line: Int? = nil) {
        self.init(.invalidJSON, "invalid JSON", detail: "\(json.reason) at byte \(json.offset)", line: line)
    }

    static func truncated(_ s: String) -> String {
        var scalars = s.unicodeScalars
        guard scalars.count > maxValueDisplay else { return s }
        scalars = String.UnicodeScalarView(scalars.prefix(maxValueDisplay))
        return String(scalars) + "…"
    }

    /// The error in one line: line, event index, field, rule, value and detail.
    public var description: String {
        var s = ""
        if let line { s += "line \(line): " }
        if let index { s += "event \(index): " }
        if let field { s += "field \(quoted(field)): " }
        s += reason
        if let value { s += " " + quoted(value) }
        if let detail { s += " (\(detail))" }
        return s
    }

    /// Writes `{"code","message","line","index","field","value","reason","detail"}` (absent → null),
    /// the error object the daemon and `--json` output carry.
    package func write(into w: inout JSONWriter) {
        w.beginObject()
        w.key("code"); w.string(code.rawValue)
        w.key("message"); w.string(description)
        w.key("line"); if let line { w.int(line) } else { w.null() }
        w.key("index"); if let index { w.int(index) } else { w.null() }
        w.key("field"); w.string(field)
        w.key("value"); w.string(value)
        w.key("reason"); w.string(reason)
        w.key("detail"); w.string(detail)
        w.endObject()
    }

    /// Quotes for display, escaping what would garble a terminal line.
    private func quoted(_ v: String) -> String {
        Quote.escaped(v)
    }
}
