import JourneyCore

/// The answer to `audit`: `{"ok":true,"records":[…],"next"}`, the read audit oldest first, at
/// most `AuditRequest.pageSize` records; `next` is the `after` of the following page (null on
/// the last).
public struct AuditAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// One record: `{at, uid, pid, as, op, parameters, ids, count, reason}`.
    public struct Record: Sendable, Hashable {
        /// When the answer was given, epoch ms.
        public var at: Int64
        /// The reader's user id.
        public var uid: UInt32
        /// The reader's process id.
        public var pid: Int32
        /// Who asked, as they named themselves (`as`).
        public var actor: String?
        /// The op answered.
        public var op: String
        /// The request's parameters, a JSON object's text.
        public var parameters: String
        /// The canonical ids the answer named (empty past 100 of them: see `count`).
        public var ids: [String]
        /// How many patients the answer named.
        public var count: Int
        /// Why, when the reader said.
        public var reason: String?

        /// A record with these fields.
        public init(at: Int64, uid: UInt32, pid: Int32, actor: String?, op: String, parameters: String,
                    ids: [String], count: Int, reason: String?) {
            (self.at, self.uid, self.pid, self.actor, self.op) = (at, uid, pid, actor, op)
            (self.parameters, self.ids, self.count, self.reason) = (parameters, ids, count, reason)
        }

        /// Writes the record's object; `parameters` as the JSON object it is.
        package func write(into w: inout JSONWriter) {
            w.beginObject()
            w.key("at"); w.time(ms: at)
            w.key("uid"); w.int(Int64(uid))
            w.key("pid"); w.int(Int64(pid))
            w.key("as"); w.string(actor)
            w.key("op"); w.string(op)
            w.key("parameters")
            if (try? JSONParser.parse(Array(parameters.utf8))) != nil { w.raw(parameters.utf8) } else { w.string(parameters) }
            w.key("ids"); w.beginArray(); for id in ids { w.string(id) }; w.endArray()
            w.key("count"); w.int(count)
            w.key("reason"); w.string(reason)
            w.endObject()
        }

        init(json v: JSONValue) throws(AnswerError) {
            guard let atText = v["at"]?.stringValue, let at = Timestamp.parse(atText),
                  let uid = v["uid"]?.int64Value, let pid = v["pid"]?.int64Value, let op = v["op"]?.stringValue,
                  let parameters = v["parameters"], let ids = v["ids"]?.arrayValue, let count = v["count"]?.int64Value
            else { throw AnswerError("an audit record lacks at, uid, pid, op, parameters, ids or count") }
            self.init(
                at: at, uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid), actor: v["as"]?.stringValue,
                op: op, parameters: parameters.stringValue ?? parameters.jsonText, ids: ids.compactMap(\.stringValue),
                count: Int(count), reason: v["reason"]?.stringValue)
        }
    }

    /// The records, oldest first.
    public var records: [Record]
    /// The cursor of the following page, nil on the last.
    public var next: Int64?

    /// An answer with `records` and the cursor of the following page.
    public init(records: [Record], next: Int64?) {
        self.records = records
        self.next = next
    }

    /// The answer line (without its newline).
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("records")
            w.beginArray()
            for r in records { r.write(into: &w) }
            w.endArray()
            w.key("next")
            if let next { w.int(next) } else { w.null() }
        }
    }

    /// Reads `records` and `next`.
    ///
    /// - Throws: `AnswerError` when `records` is missing or a record lacks a field.
    public init(answer v: JSONValue) throws(AnswerError) {
        guard let list = v["records"]?.arrayValue else { throw AnswerError("\"records\", an array, expected") }
        var records: [Record] = []
        for r in list { records.append(try Record(json: r)) }
        self.init(records: records, next: v["next"]?.int64Value)
    }
}
