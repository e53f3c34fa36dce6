import JourneyCore

/// `erase {id, reason, as?}`: erase the identifying data of the cluster holding `id` for good
/// (SPEC §6). `reason` (and `as`) are the request's `Requester` members; an erase without a
/// reason is refused.
public struct EraseRequest: Sendable, Hashable {
    /// Any id of the patient's cluster.
    public var id: String

    /// A request to erase the cluster holding `id`.
    public init(id: String) { self.id = id }

    /// The request line (without its newline): `{"op":"erase","id":…}`; `Requester.adding`
    /// adds `as` and `reason`.
    public var line: [UInt8] {
        RequestFields.line(op: "erase") { w in w.key("id"); w.string(id) }
    }

    /// Reads `id`, and checks that the request gives a `reason`.
    ///
    /// - Throws: `bad_request` when `id` is missing or empty, or `reason` is missing.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        guard let id = try RequestFields.string(r, "id"), !id.isEmpty else {
            throw ProtocolError.badRequest("erase needs \"id\", a non-empty string")
        }
        guard try RequestFields.string(r, "reason") != nil else {
            throw ProtocolError.badRequest("erase needs a \"reason\" (kept in the receipt; it must not name the patient)")
        }
        self.id = id
    }
}
