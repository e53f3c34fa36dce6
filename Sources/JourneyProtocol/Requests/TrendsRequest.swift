import JourneyCore

/// `trends {step?, interval?, from, to, by?, unique?, tz?}` (SPEC §3.6): events or distinct
/// patients per day, week or month.
public struct TrendsRequest: Sendable, Hashable {
    /// The question.
    public var query: TrendsQuery

    /// A request for `query`.
    public init(_ query: TrendsQuery) { self.query = query }

    /// The request line (without its newline):
    /// `{"op":"trends","step","interval","from","to","by","unique","tz"}`.
    public var line: [UInt8] {
        RequestFields.line(op: "trends") { w in
            w.key("step"); w.string(query.step.name)
            w.key("interval"); w.string(query.interval.name)
            w.key("from"); w.int(query.from)
            w.key("to"); w.int(query.to)
            w.key("by"); w.string(query.by.name)
            w.key("unique"); w.bool(query.unique)
            w.key("tz"); w.string(query.calendar.timeZone)
        }
    }

    /// Reads `from` and `to` (required), `step` (default `touch`), `interval` (day, week or month;
    /// default week), `by` (default `none`), `unique` (default false) and `tz` (default UTC).
    ///
    /// - Throws: `bad_request` naming the member that is missing or wrong.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        let from = try RequestFields.requiredTime(r, "from")
        let to = try RequestFields.requiredTime(r, "to")
        let step = try RequestFields.name(r, "step", kinds: "touch, inquiry, contact or an event type", TrendStep.init(name:))
        let interval = try RequestFields.name(r, "interval", kinds: "day, week or month", ReportInterval.init(name:))
        let by = try RequestFields.name(r, "by", kinds: RequestFields.list(TrendsBreakdown.allCases, \.name),
                                        TrendsBreakdown.init(name:))
        let unique = try RequestFields.bool(r, "unique")
        let calendar = try RequestFields.calendar(r)
        do {
            query = try TrendsQuery(step: step ?? .touch, interval: interval ?? .week, from: from, to: to,
                                    by: by ?? .none, unique: unique ?? false, calendar: calendar)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }
}
