import JourneyCore

/// The answer to `ping`: `{"ok":true}`.
public struct PingAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The answer; it carries nothing but `ok`.
    public init() {}
    /// Reads the answer; any members past `ok` are ignored, so this never throws.
    public init(answer: JSONValue) throws(AnswerError) {}
    /// The answer line (without its newline): `{"ok":true}`.
    public var line: [UInt8] { Answer.ok { _ in } }
}
