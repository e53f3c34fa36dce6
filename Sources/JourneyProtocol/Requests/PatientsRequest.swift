import JourneyCore

/// `patients {from, to, by?}` (SPEC §3.6): new, retained and lapsed patients over `[from, to)`.
public struct PatientsRequest: Sendable, Hashable {
    /// The question.
    public var query: PatientsQuery

    /// A request for `query`.
    public init(_ query: PatientsQuery) { self.query = query }

    /// The request line (without its newline): `{"op":"patients","from","to","by"}`.
    public var line: [UInt8] {
        RequestFields.line(op: "patients") { w in
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
        let by = try RequestFields.name(r, "by", kinds: RequestFields.list(PatientsBreakdown.allCases, \.name),
                                        PatientsBreakdown.init(name:))
        do {
            query = try PatientsQuery(from: from, to: to, by: by ?? .none)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }
}
