import JourneyCore

/// The answer to `ping`: `{"ok":true}`.
public struct PingAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    public init() {}
    public init(answer: JSONValue) throws(AnswerError) {}
    public var line: [UInt8] { Answer.ok { _ in } }
}
