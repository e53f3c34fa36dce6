import JourneyCore

/// `at_risk {as_of?, limit?, after?}`: one page of the clusters with a non-empty `risk`.
public struct AtRiskRequest: Sendable, Hashable {
    /// The page size when the request names none.
    public static let defaultLimit = 100

    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?
    /// The page size, 1 to 10000 (nil: `defaultLimit`).
    public var limit: Int?
    /// The `next` cursor of the previous page.
    public var after: String?

    /// A request for one page; a nil member is left out of the line and takes the daemon's default.
    public init(asOf: Int64? = nil, limit: Int? = nil, after: String? = nil) {
        self.asOf = asOf
        self.limit = limit
        self.after = after
    }

    /// The request line (without its newline): `{"op":"at_risk","as_of"?,"limit"?,"after"?}`,
    /// with only the members that are not nil.
    public var line: [UInt8] {
        RequestFields.line(op: "at_risk") { w in
            if let asOf { w.key("as_of"); w.int(asOf) }
            if let limit { w.key("limit"); w.int(limit) }
            if let after { w.key("after"); w.string(after) }
        }
    }

    /// Reads `as_of` (an RFC 3339 time or epoch milliseconds), `limit` and `after`; each may be
    /// absent or `null`.
    ///
    /// - Throws: `bad_request` when a member has the wrong type or `limit` is not 1 to 10000.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        asOf = try RequestFields.time(r, "as_of")
        let limit = try RequestFields.int(r, "limit")
        if let limit {
            guard limit >= 1 && limit <= 10_000 else { throw ProtocolError.badRequest("\"limit\" must be 1 to 10000") }
            self.limit = Int(limit)
        }
        after = try RequestFields.string(r, "after")
    }
}
