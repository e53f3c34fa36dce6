import JourneyCore

/// `cohorts {from, to, periods?, by?, tz?}` (SPEC §3.6): patients by the month of their first
/// visit, followed month by month.
public struct CohortsRequest: Sendable, Hashable {
    /// The question.
    public var query: CohortsQuery

    /// A request for `query`.
    public init(_ query: CohortsQuery) { self.query = query }

    /// The request line (without its newline): `{"op":"cohorts","from","to","periods","by","tz"}`.
    public var line: [UInt8] {
        RequestFields.line(op: "cohorts") { w in
            w.key("from"); w.int(query.from)
            w.key("to"); w.int(query.to)
            w.key("periods"); w.int(query.periods)
            w.key("by"); w.string(query.by.name)
            w.key("tz"); w.string(query.calendar.timeZone)
        }
    }

    /// Reads `from` and `to` (required), `periods` (default 12), `by` (default `none`) and `tz`
    /// (an IANA zone name, default UTC).
    ///
    /// - Throws: `bad_request` naming the member that is missing or wrong.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        let from = try RequestFields.requiredTime(r, "from")
        let to = try RequestFields.requiredTime(r, "to")
        let periods = try RequestFields.int(r, "periods", in: 1...120)
        let by = try RequestFields.name(r, "by", kinds: RequestFields.list(PatientsBreakdown.allCases, \.name),
                                        PatientsBreakdown.init(name:))
        let calendar = try RequestFields.calendar(r)
        do {
            query = try CohortsQuery(from: from, to: to, periods: periods ?? CohortsQuery.defaultPeriods,
                                     by: by ?? .none, calendar: calendar)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }
}
