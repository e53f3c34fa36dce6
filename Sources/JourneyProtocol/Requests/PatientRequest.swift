import JourneyCore

/// `patient {id, as_of?}`: the journey state (SPEC §3.2) of the cluster holding `id`.
public struct PatientRequest: Sendable, Hashable {
    /// Any id of the cluster.
    public var id: String
    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?

    public init(id: String, asOf: Int64? = nil) {
        self.id = id
        self.asOf = asOf
    }

    public var line: [UInt8] { Lookup.line("patient", id, asOf) }

    public init(decoding r: JSONValue) throws(ProtocolError) {
        (id, asOf) = try Lookup.decode("patient", r)
    }
}
