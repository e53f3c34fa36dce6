import JourneyCore

/// The answer to `limits`: the daemon's longest request line and longest event, in bytes
/// (`journeyd import` sizes its batches by them).
public struct LimitsAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The longest request line the daemon reads, without its newline.
    public var maxLineBytes: Int
    /// The longest event, encoded.
    public var maxEventBytes: Int

    /// The limits as given, in bytes.
    public init(maxLineBytes: Int, maxEventBytes: Int) {
        self.maxLineBytes = maxLineBytes
        self.maxEventBytes = maxEventBytes
    }

    /// The answer line (without its newline): `{"ok":true,"max_line_bytes":N,"max_event_bytes":M}`.
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("max_line_bytes"); w.int(maxLineBytes)
            w.key("max_event_bytes"); w.int(maxEventBytes)
        }
    }

    /// Reads `max_line_bytes` and `max_event_bytes`.
    ///
    /// - Throws: `AnswerError` when either is missing or not an integer > 0.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let line = answer["max_line_bytes"]?.int64Value, line > 0,
              let event = answer["max_event_bytes"]?.int64Value, event > 0
        else { throw AnswerError("\"max_line_bytes\" and \"max_event_bytes\", integers > 0, expected") }
        self.init(maxLineBytes: Int(line), maxEventBytes: Int(event))
    }
}
