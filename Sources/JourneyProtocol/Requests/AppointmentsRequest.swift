import JourneyCore

/// `appointments {from, to, by?}` (SPEC §3.6): the appointments scheduled in `[from, to)`.
public struct AppointmentsRequest: Sendable, Hashable {
    /// The question.
    public var query: AppointmentsQuery

    /// A request for `query`.
    public init(_ query: AppointmentsQuery) { self.query = query }

    /// The request line (without its newline): `{"op":"appointments","from","to","by"}`.
    public var line: [UInt8] {
        RequestFields.line(op: "appointments") { w in
            w.key("from"); w.int(query.from)
            w.key("to"); w.int(query.to)
            w.key("by"); w.string(query.by.name)
        }
    }

    /// Reads `from` and `to` (required), `by` (default `none`).
    ///
    /// - Throws: `bad_request` naming the member that is missing or wrong.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        let from = try RequestFields.requiredTime(r, "from")
        let to = try RequestFields.requiredTime(r, "to")
        let by = try RequestFields.name(r, "by", kinds: RequestFields.list(AppointmentsBreakdown.allCases, \.name),
                                        AppointmentsBreakdown.init(name:))
        do {
            query = try AppointmentsQuery(from: from, to: to, by: by ?? .none)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }
}
