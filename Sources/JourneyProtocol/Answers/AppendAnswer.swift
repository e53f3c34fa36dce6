import JourneyCore

/// The answer to `append`: `{"ok":true,"positions":[…],"duplicates":[…]}`, one position per
/// event in order and the indexes of the events already stored; with
/// `"on_conflict":"reject_event"`, a `null` position for each event left out and `rejected`:
/// for each, its `index`, `id`, and the error's `code` and `message`.
public struct AppendAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// An event the append left out (its id is stored with other content).
    public struct Rejection: Sendable, Hashable {
        /// The event's index in the request.
        public var index: Int
        /// The event's id.
        public var id: String
        /// Why, e.g. `conflict` and its message.
        public var error: ProtocolError

        /// A left-out event: its index in the request, its id, and the error that kept it out
        /// (written as the `index`, `id`, `code` and `message` of an element of `rejected`).
        public init(index: Int, id: String, error: ProtocolError) {
            self.index = index
            self.id = id
            self.error = error
        }
    }

    /// One per event, in order; nil for an event left out.
    public var positions: [UInt64?]
    /// The indexes of the events already stored with the same content.
    public var duplicates: [Int]
    /// The events left out, for an append with `"on_conflict":"reject_event"` (nil: the
    /// `fail_batch` answer, which has no `rejected` member).
    public var rejected: [Rejection]?

    /// An answer with these members as they are: `positions`, `duplicates`, and `rejected`
    /// (nil to leave the `rejected` member out, as a `fail_batch` answer does).
    public init(positions: [UInt64?], duplicates: [Int], rejected: [Rejection]? = nil) {
        self.positions = positions
        self.duplicates = duplicates
        self.rejected = rejected
    }

    /// The answer of a whole batch appended (or found stored).
    public init(_ outcomes: [AppendOutcome]) {
        positions = outcomes.map(\.position.rawValue)
        duplicates = outcomes.indices.filter { if case .duplicate = outcomes[$0] { true } else { false } }
        rejected = nil
    }

    /// The answer of a batch appended event by event: each event's outcome, or its error.
    public init(_ results: [Result<AppendOutcome, ProtocolError>], id: (Int) -> String) {
        positions = results.map { if case .success(let o) = $0 { o.position.rawValue } else { nil } }
        duplicates = results.indices.filter { if case .success(.duplicate) = results[$0] { true } else { false } }
        rejected = results.indices.compactMap { i in
            guard case .failure(let e) = results[i] else { return nil }
            return Rejection(index: i, id: id(i), error: e)
        }
    }

    /// The outcome of each event, in order, when none was left out.
    ///
    /// - Throws: `AnswerError` when a position is missing or a duplicate index is out of range.
    public func outcomes() throws(AnswerError) -> [AppendOutcome] {
        var outcomes: [AppendOutcome] = []
        outcomes.reserveCapacity(positions.count)
        for p in positions {
            guard let p else { throw AnswerError("an event has no position") }
            outcomes.append(.appended(Position(p)))
        }
        for i in duplicates {
            guard outcomes.indices.contains(i) else { throw AnswerError("a duplicate index is out of range") }
            outcomes[i] = .duplicate(outcomes[i].position)
        }
        return outcomes
    }

    /// The answer line (without its newline): `{"ok":true,"positions":[…],"duplicates":[…]}`,
    /// a left-out event's position written as `null`, then `"rejected":[{"index","id","code","message"},…]`
    /// when `rejected` is not nil.
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("positions")
            w.beginArray()
            for p in positions {
                if let p { w.int(Int64(p)) } else { w.null() }
            }
            w.endArray()
            w.key("duplicates")
            w.beginArray()
            for d in duplicates { w.int(d) }
            w.endArray()
            if let rejected {
                w.key("rejected")
                w.beginArray()
                for r in rejected {
                    w.beginObject()
                    w.key("index"); w.int(r.index)
                    w.key("id"); w.string(r.id)
                    w.key("code"); w.string(r.error.code)
                    w.key("message"); w.string(r.error.message)
                    w.endObject()
                }
                w.endArray()
            }
        }
    }

    /// Reads `positions` (integers ≥ 1, or `null` for an event left out), `duplicates` (indexes
    /// into `positions`) and, when present and not `null`, `rejected`.
    ///
    /// - Throws: `AnswerError` when `positions` or `duplicates` is missing, a position is not an
    ///   integer ≥ 1, an index is out of range, or a rejected event lacks `index`, `id` or `code`.
    public init(answer: JSONValue) throws(AnswerError) {
        guard let positions = answer["positions"]?.arrayValue, let duplicates = answer["duplicates"]?.arrayValue else {
            throw AnswerError("\"positions\" (one per event) and \"duplicates\" expected")
        }
        self.positions = []
        for p in positions {
            if p.isNull {
                self.positions.append(nil)
                continue
            }
            guard let n = p.int64Value, n >= 1 else { throw AnswerError("a position is not an integer ≥ 1") }
            self.positions.append(UInt64(n))
        }
        self.duplicates = []
        for d in duplicates {
            guard let i = d.int64Value, i >= 0, i < Int64(positions.count) else {
                throw AnswerError("a duplicate index is out of range")
            }
            self.duplicates.append(Int(i))
        }
        if let list = answer["rejected"], !list.isNull {
            guard let list = list.arrayValue else { throw AnswerError("\"rejected\" is not an array") }
            var rejected: [Rejection] = []
            for x in list {
                guard let i = x["index"]?.int64Value, i >= 0, i < Int64(positions.count),
                      let id = x["id"]?.stringValue, let code = x["code"]?.stringValue
                else { throw AnswerError("a rejected event without \"index\", \"id\" and \"code\"") }
                rejected.append(Rejection(index: Int(i), id: id, error: ProtocolError(code, x["message"]?.stringValue ?? "")))
            }
            self.rejected = rejected
        } else {
            rejected = nil
        }
    }
}
