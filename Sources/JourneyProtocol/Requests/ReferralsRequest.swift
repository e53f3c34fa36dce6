import JourneyCore

/// `referrals {as_of?, limit?}` (SPEC §3.6): who refers patients, and referred against direct
/// patients.
public struct ReferralsRequest: Sendable, Hashable {
    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?
    /// The most referrers listed, 1 to 10000 (nil: `ReferralsReport.defaultLimit`).
    public var limit: Int?

    /// A request; a nil member is left out of the line and takes the daemon's default.
    public init(asOf: Int64? = nil, limit: Int? = nil) {
        self.asOf = asOf
        self.limit = limit
    }

    /// The request line (without its newline): `{"op":"referrals","as_of"?,"limit"?}`.
    public var line: [UInt8] {
        RequestFields.line(op: "referrals") { w in
            if let asOf { w.key("as_of"); w.int(asOf) }
            if let limit { w.key("limit"); w.int(limit) }
        }
    }

    /// Reads `as_of` and `limit`; each may be absent or `null`.
    ///
    /// - Throws: `bad_request` when a member has the wrong type or `limit` is not 1 to 10000.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        asOf = try RequestFields.time(r, "as_of")
        limit = try RequestFields.int(r, "limit", in: 1...10_000)
    }
}
