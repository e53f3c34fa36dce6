import JourneyCore

/// `signals {consumer, from?}`: the stored signals (SPEC §3.7) after consumer `consumer`'s last
/// acknowledged seq, or after `from` when given, then each new one as it is stored; the
/// connection becomes a stream. An unknown consumer is created, having acknowledged nothing.
public struct SignalsRequest: Sendable, Hashable {
    /// The consumer's name, 1–128 bytes without control characters.
    public var consumer: String
    /// Start after this seq instead of after the consumer's acknowledged one (0: from the first).
    public var from: UInt64?

    /// A request for `consumer`'s signals, after `from` when given.
    public init(consumer: String, from: UInt64? = nil) {
        self.consumer = consumer
        self.from = from
    }

    /// The request line (without its newline): `{"op":"signals","consumer","from"?}`.
    public var line: [UInt8] {
        RequestFields.line(op: "signals") { w in
            w.key("consumer"); w.string(consumer)
            if let from { w.key("from"); w.int(Int64(from)) }
        }
    }

    /// Reads `consumer` (required) and `from` (absent or `null`: after the acknowledged seq).
    ///
    /// - Throws: `bad_request` when `consumer` is missing or not a valid name, or `from` is not
    ///   an integer ≥ 0.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        consumer = try SignalsRequest.consumer(r)
        if let from = try RequestFields.int(r, "from") {
            guard from >= 0 else { throw ProtocolError.badRequest("\"from\" must be a seq ≥ 0") }
            self.from = UInt64(from)
        }
    }

    /// The `consumer` member, checked: 1–128 bytes, no control or invisible character.
    static func consumer(_ r: JSONValue) throws(ProtocolError) -> String {
        guard let name = try RequestFields.string(r, "consumer") else {
            throw ProtocolError.badRequest("\"consumer\" is required: the name the signals are read and acknowledged under")
        }
        guard (1...128).contains(name.utf8.count) else {
            throw ProtocolError.badRequest("\"consumer\" must be 1 to 128 bytes")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) else {
            throw ProtocolError.badRequest("\"consumer\" holds a control or invisible character")
        }
        return name
    }
}

/// `ack {consumer, seq}`: consumer `consumer` has handled every signal up to `seq`; durable
/// when answered. An acknowledgement never moves back (a lower seq changes nothing).
public struct AckRequest: Sendable, Hashable {
    /// The consumer's name.
    public var consumer: String
    /// The last seq handled.
    public var seq: UInt64

    /// An acknowledgement of every signal up to `seq`.
    public init(consumer: String, seq: UInt64) {
        self.consumer = consumer
        self.seq = seq
    }

    /// The request line (without its newline): `{"op":"ack","consumer","seq"}`.
    public var line: [UInt8] {
        RequestFields.line(op: "ack") { w in
            w.key("consumer"); w.string(consumer)
            w.key("seq"); w.int(Int64(seq))
        }
    }

    /// Reads `consumer` and `seq` (both required).
    ///
    /// - Throws: `bad_request` when one is missing or `seq` is not an integer ≥ 1.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        consumer = try SignalsRequest.consumer(r)
        guard let seq = try RequestFields.int(r, "seq") else { throw ProtocolError.badRequest("\"seq\" is required") }
        guard seq >= 1 else { throw ProtocolError.badRequest("\"seq\" must be a seq ≥ 1") }
        self.seq = UInt64(seq)
    }
}
