import JourneyCore

/// The members of a request object, read with the daemon's `bad_request` messages.
/// A member that is absent or `null` reads as nil.
enum RequestFields {
    static func time(_ r: JSONValue, _ key: String) throws(ProtocolError) -> Int64? {
        guard let v = r[key], !v.isNull else { return nil }
        if let ms = v.int64Value { return ms }
        if let s = v.stringValue, let ms = Timestamp.parse(s) { return ms }
        throw ProtocolError.badRequest("\"\(key)\" must be an RFC 3339 time or epoch milliseconds")
    }

    static func int(_ r: JSONValue, _ key: String) throws(ProtocolError) -> Int64? {
        guard let v = r[key], !v.isNull else { return nil }
        guard let n = v.int64Value else { throw ProtocolError.badRequest("\"\(key)\" must be an integer") }
        return n
    }

    static func string(_ r: JSONValue, _ key: String) throws(ProtocolError) -> String? {
        guard let v = r[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw ProtocolError.badRequest("\"\(key)\" must be a string") }
        return s
    }

    /// `{"op":op, …members body writes}` as one line.
    static func line(op: String, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("op"); w.string(op)
        body(&w)
        w.endObject()
        return w.bytes
    }
}

extension ProtocolError {
    /// A request member missing or wrong.
    static func badRequest(_ message: String) -> ProtocolError { ProtocolError("bad_request", message) }
}
