import JourneyCore

/// The answer to `replay`: whether this request started a rebuild (false: one was running).
public struct ReplayAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// True when the request started the rebuild.
    public var rebuilding: Bool

    /// An answer saying whether this request started the rebuild.
    public init(rebuilding: Bool) { self.rebuilding = rebuilding }

    /// The answer line (without its newline): `{"ok":true,"rebuilding":true|false}`.
    public var line: [UInt8] { Answer.ok { w in w.key("rebuilding"); w.bool(rebuilding) } }

    /// Reads `rebuilding`.
    ///
    /// - Throws: `AnswerError` when it is missing or not a boolean.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let rebuilding = answer["rebuilding"]?.boolValue else { throw AnswerError("\"rebuilding\", a boolean, expected") }
        self.init(rebuilding: rebuilding)
    }
}
