import JourneyCore

/// What an erasure leaves behind: when, by whom, why, how many events, and the pseudonym the
/// erased patient's ids became. It names no erased id, so it can be kept and shown freely (the
/// `reason` is the operator's own text: it must not name the patient either).
public struct ErasureReceipt: Sendable, Hashable {
    /// The erasure's number in the store (1, 2, …).
    public var seq: UInt64
    /// When the erasure was made, ms since the epoch.
    public var at: Int64
    /// Who made it (`--as`, or the request's `as`).
    public var actor: String?
    /// Why (`--reason`, or the request's `reason`).
    public var reason: String
    /// The erased patient's events rewritten (those of the cluster).
    public var events: Int
    /// Events of other patients that named an id of the cluster (as `referrer` or `patient`)
    /// and now name the pseudonym.
    public var references: Int
    /// The one id every erased id became: `erased:` and 16 hexadecimal digits.
    public var pseudonym: String

    /// A receipt with every field.
    public init(seq: UInt64, at: Int64, actor: String?, reason: String, events: Int, references: Int, pseudonym: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.reason = reason
        self.events = events
        self.references = references
        self.pseudonym = pseudonym
    }

    /// The prefix of every pseudonym.
    public static let pseudonymPrefix = "erased:"

    /// Writes the receipt as one JSON object: `{seq, at, actor, reason, events, references, pseudonym}`.
    package func write(into w: inout JSONWriter) {
        w.beginObject()
        w.key("seq"); w.int(Int64(seq))
        w.key("at"); w.string(Timestamp.format(ms: at))
        w.key("actor"); if let actor { w.string(actor) } else { w.null() }
        w.key("reason"); w.string(reason)
        w.key("events"); w.int(Int64(events))
        w.key("references"); w.int(Int64(references))
        w.key("pseudonym"); w.string(pseudonym)
        w.endObject()
    }

    /// The receipt as one JSON object.
    public var json: [UInt8] {
        var w = JSONWriter()
        write(into: &w)
        return w.bytes
    }

    /// Reads a receipt object written by `write`.
    ///
    /// - Throws: `AnswerError` naming the member that is missing or wrong.
    public init(json v: JSONValue) throws(AnswerError) {
        guard let seq = v["seq"]?.int64Value, seq >= 1 else { throw AnswerError("receipt: \"seq\" ≥ 1 expected") }
        guard let atText = v["at"]?.stringValue, let at = Timestamp.parse(atText) else { throw AnswerError("receipt: \"at\", an RFC 3339 time, expected") }
        guard let reason = v["reason"]?.stringValue else { throw AnswerError("receipt: \"reason\" expected") }
        guard let events = v["events"]?.int64Value, events >= 0, let references = v["references"]?.int64Value, references >= 0 else {
            throw AnswerError("receipt: \"events\" and \"references\" ≥ 0 expected")
        }
        guard let pseudonym = v["pseudonym"]?.stringValue, pseudonym.hasPrefix(Self.pseudonymPrefix) else {
            throw AnswerError("receipt: \"pseudonym\" starting with erased: expected")
        }
        self.init(seq: UInt64(seq), at: at, actor: v["actor"]?.stringValue, reason: reason, events: Int(events),
                  references: Int(references), pseudonym: pseudonym)
    }
}

/// The answer to `erase`: `{"ok":true,"receipt":{…}}`.
public struct EraseAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The erasure's receipt.
    public var receipt: ErasureReceipt

    /// An answer carrying `receipt`.
    public init(_ receipt: ErasureReceipt) { self.receipt = receipt }

    /// The answer line (without its newline).
    public var line: [UInt8] { Answer.ok { w in w.key("receipt"); receipt.write(into: &w) } }

    /// Reads `receipt`.
    ///
    /// - Throws: `AnswerError` when it is missing or malformed.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let r = answer["receipt"] else { throw AnswerError("\"receipt\" expected") }
        self.init(try ErasureReceipt(json: r))
    }
}
