import JourneyCore

/// The answer to `signals`, the first line of the stream:
/// `{"ok":true,"consumer":name,"after":seq}`; each following line is one signal object.
public struct SignalsAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The consumer's name.
    public var consumer: String
    /// The stream sends the signals after this seq.
    public var after: UInt64

    /// An answer for a stream of `consumer`'s signals after `after`.
    public init(consumer: String, after: UInt64) {
        self.consumer = consumer
        self.after = after
    }

    /// The answer line (without its newline).
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("consumer"); w.string(consumer)
            w.key("after"); w.int(Int64(after))
        }
    }

    /// Reads the answer.
    ///
    /// - Throws: `AnswerError` when `consumer` or `after` is missing.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let consumer = answer["consumer"]?.stringValue, let after = answer["after"]?.int64Value, after >= 0 else {
            throw AnswerError("\"consumer\" and \"after\" ≥ 0 are required")
        }
        self.init(consumer: consumer, after: UInt64(after))
    }

    /// Reads a stream line: a signal, or the daemon's error that ends the stream.
    public static func decodeSignal(_ line: [UInt8]) throws(AnswerError) -> Result<Signal, ProtocolError> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw AnswerError("not JSON: \(error)")
        }
        if value["ok"]?.boolValue == false {
            return .failure(value["error"].flatMap(ProtocolError.init(object:)) ?? ProtocolError("unknown", ""))
        }
        do {
            return .success(try Signal(json: value))
        } catch {
            throw AnswerError("not a signal: \(error)")
        }
    }
}

/// The answer to `ack`: `{"ok":true,"consumer":name,"acked":seq}`, the consumer's acknowledged
/// seq after the request (never lower than before).
public struct AckAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The consumer's name.
    public var consumer: String
    /// The last seq it acknowledged.
    public var acked: UInt64

    /// An answer for `consumer` having acknowledged up to `acked`.
    public init(consumer: String, acked: UInt64) {
        self.consumer = consumer
        self.acked = acked
    }

    /// The answer line (without its newline).
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("consumer"); w.string(consumer)
            w.key("acked"); w.int(Int64(acked))
        }
    }

    /// Reads the answer.
    ///
    /// - Throws: `AnswerError` when `consumer` or `acked` is missing.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let consumer = answer["consumer"]?.stringValue, let acked = answer["acked"]?.int64Value, acked >= 0 else {
            throw AnswerError("\"consumer\" and \"acked\" ≥ 0 are required")
        }
        self.init(consumer: consumer, acked: UInt64(acked))
    }
}
