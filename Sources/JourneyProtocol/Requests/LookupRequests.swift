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

/// The shape `patient` and `handoff` share.
enum Lookup {
    static func line(_ op: String, _ id: String, _ asOf: Int64?) -> [UInt8] {
        RequestFields.line(op: op) { w in
            w.key("id"); w.string(id)
            if let asOf { w.key("as_of"); w.int(asOf) }
        }
    }

    static func decode(_ op: String, _ r: JSONValue) throws(ProtocolError) -> (String, Int64?) {
        guard let id = r["id"]?.stringValue, !id.isEmpty else {
            throw ProtocolError.badRequest("\(op) needs \"id\", a non-empty string")
        }
        return (id, try RequestFields.time(r, "as_of"))
    }
}
