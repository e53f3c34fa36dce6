import JourneyCore

/// `audit {patient?, since?, after?}`: the read audit, oldest first (who was shown which patients).
public struct AuditRequest: Sendable, Hashable {
    /// Only records that named this patient (any id of the cluster, or the id a lookup asked for).
    public var patient: String?
    /// Only records at or after this time, epoch ms.
    public var since: Int64?
    /// The `next` cursor of the previous page.
    public var after: Int64?

    /// Records per answer.
    public static let pageSize = 1000

    /// A request for the records matching `patient` and `since` (nil: every record).
    public init(patient: String? = nil, since: Int64? = nil, after: Int64? = nil) {
        self.patient = patient
        self.since = since
        self.after = after
    }

    /// The request line (without its newline): `{"op":"audit","patient"?,"since"?,"after"?}`.
    public var line: [UInt8] {
        RequestFields.line(op: "audit") { w in
            if let patient { w.key("patient"); w.string(patient) }
            if let since { w.key("since"); w.int(since) }
            if let after { w.key("after"); w.int(after) }
        }
    }

    /// Reads `patient`, `since` (an RFC 3339 time or epoch milliseconds) and `after`.
    ///
    /// - Throws: `bad_request` when a member has the wrong type, `patient` is empty or `after`
    ///   is negative.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        patient = try RequestFields.string(r, "patient")
        if patient?.isEmpty == true { throw ProtocolError.badRequest("\"patient\" must be a non-empty string") }
        since = try RequestFields.time(r, "since")
        after = try RequestFields.int(r, "after")
        if let after, after < 0 { throw ProtocolError.badRequest("\"after\" must be ≥ 0") }
    }
}
