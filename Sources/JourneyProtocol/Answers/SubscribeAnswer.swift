import JourneyCore

/// The answer to `subscribe`, the first line of the stream: `{"ok":true,"subscribed":from}`.
public struct SubscribeAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The first position the stream sends.
    public var from: UInt64

    /// An answer for a stream that starts at position `from`.
    public init(from: UInt64) { self.from = from }

    /// The answer line (without its newline): `{"ok":true,"subscribed":from}`.
    public var line: [UInt8] { Answer.ok { w in w.key("subscribed"); w.int(Int64(from)) } }

    /// Reads the answer; an answer without `subscribed` (an older daemon's) reads as from 1.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let v = answer["subscribed"], !v.isNull else {
            self.init(from: 1)
            return
        }
        guard let n = v.int64Value, n >= 1 else { throw AnswerError("\"subscribed\" is not a position ≥ 1") }
        self.init(from: UInt64(n))
    }
}
