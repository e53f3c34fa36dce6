import JourneyCore

/// `subscribe {from}`: the log from position `from` on, then each new event as it is
/// committed; the connection becomes a stream.
public struct SubscribeRequest: Sendable, Hashable {
    /// The first position to send (default 1).
    public var from: UInt64

    public init(from: UInt64 = 1) { self.from = from }

    public var line: [UInt8] { RequestFields.line(op: "subscribe") { w in w.key("from"); w.int(Int64(from)) } }

    public init(decoding r: JSONValue) throws(ProtocolError) {
        let from = try RequestFields.int(r, "from") ?? 1
        guard from >= 1 else { throw ProtocolError.badRequest("\"from\" must be a position ≥ 1") }
        self.from = UInt64(from)
    }
}
