import JourneyCore

/// `subscribe {from}`: the log from position `from` on, then each new event as it is
/// committed; the connection becomes a stream.
public struct SubscribeRequest: Sendable, Hashable {
    /// The first position to send (default 1).
    public var from: UInt64

    /// A subscription starting at position `from` (1: the whole log).
    public init(from: UInt64 = 1) { self.from = from }

    /// The request line (without its newline): `{"op":"subscribe","from":N}`; `from` is always written.
    public var line: [UInt8] { RequestFields.line(op: "subscribe") { w in w.key("from"); w.int(Int64(from)) } }

    /// Reads `from` (absent or `null`: 1).
    ///
    /// - Throws: `bad_request` when `from` is not an integer ≥ 1.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        let from = try RequestFields.int(r, "from") ?? 1
        guard from >= 1 else { throw ProtocolError.badRequest("\"from\" must be a position ≥ 1") }
        self.from = UInt64(from)
    }
}
