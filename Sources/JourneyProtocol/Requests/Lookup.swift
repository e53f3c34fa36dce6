import JourneyCore

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
