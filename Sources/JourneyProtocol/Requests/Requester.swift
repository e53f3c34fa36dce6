import JourneyCore

/// Who sends a request and why: the `as` and `reason` members any request may carry, recorded
/// by the read audit with every answer that names patients.
public struct Requester: Sendable, Hashable {
    /// Who asks (`as`): a person or a service, as they name themselves.
    public var actor: String?
    /// Why (`reason`).
    public var reason: String?

    /// Longest `as`, in bytes.
    public static let maxActorBytes = 256
    /// Longest `reason`, in bytes.
    public static let maxReasonBytes = 1024

    /// A requester named `actor`, with an optional `reason`.
    public init(actor: String?, reason: String? = nil) {
        self.actor = actor
        self.reason = reason
    }

    /// Reads `as` and `reason` from a request object; each may be absent or `null`.
    ///
    /// - Throws: `bad_request` when one is not a string, is empty, is too long, or holds a
    ///   control character.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        actor = try Self.text(r, "as", max: Self.maxActorBytes)
        reason = try Self.text(r, "reason", max: Self.maxReasonBytes)
    }

    private static func text(_ r: JSONValue, _ key: String, max: Int) throws(ProtocolError) -> String? {
        guard let s = try RequestFields.string(r, key) else { return nil }
        guard !s.isEmpty, s.utf8.count <= max else {
            throw ProtocolError.badRequest("\"\(key)\" must be 1 to \(max) bytes")
        }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ProtocolError.badRequest("\"\(key)\" must not hold control characters")
        }
        return s
    }

    /// `line` (a request object) with `as` and `reason` added before its closing brace, when set.
    public func adding(to line: [UInt8]) -> [UInt8] {
        guard actor != nil || reason != nil, line.last == UInt8(ascii: "}") else { return line }
        var w = JSONWriter()
        w.beginObject()
        if let actor { w.key("as"); w.string(actor) }
        if let reason { w.key("reason"); w.string(reason) }
        w.endObject()
        // `{"as":…}` without its braces, after the request's last member (or alone).
        let members = w.bytes.dropFirst().dropLast()
        var out = Array(line.dropLast())
        if out.last != UInt8(ascii: "{") { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: members)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
