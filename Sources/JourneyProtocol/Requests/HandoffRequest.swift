import JourneyCore

/// `handoff {id, as_of?}`: the warm-handoff context (SPEC §3.3) of the cluster holding `id`.
public struct HandoffRequest: Sendable, Hashable {
    /// Any id of the cluster.
    public var id: String
    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?

    public init(id: String, asOf: Int64? = nil) {
        self.id = id
        self.asOf = asOf
    }

    public var line: [UInt8] { Lookup.line("handoff", id, asOf) }

    public init(decoding r: JSONValue) throws(ProtocolError) {
        (id, asOf) = try Lookup.decode("handoff", r)
    }
}
