import JourneyCore

/// `patient {id, as_of?}`: the journey state (SPEC §3.2) of the cluster holding `id`.
public struct PatientRequest: Sendable, Hashable {
    /// Any id of the cluster.
    public var id: String
    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?

    /// A request for the journey state of the cluster holding `id`, as of `asOf` (nil: now).
    public init(id: String, asOf: Int64? = nil) {
        self.id = id
        self.asOf = asOf
    }

    /// The request line (without its newline): `{"op":"patient","id":…,"as_of"?:…}`.
    public var line: [UInt8] { Lookup.line("patient", id, asOf) }

    /// Reads `id` and `as_of` (an RFC 3339 time or epoch milliseconds, may be absent).
    ///
    /// - Throws: `bad_request` when `id` is missing or empty, or `as_of` is not a time.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        (id, asOf) = try Lookup.decode("patient", r)
    }
}
