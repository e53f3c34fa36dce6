import JourneyCore

/// `append {events:[…], on_conflict?}`: one atomic batch of events (SPEC §4).
public struct AppendRequest: Sendable, Hashable {
    /// What an append does with a batch holding an id stored with other content (the request's
    /// `on_conflict`, docs/protocol.md).
    public enum OnConflict: String, Sendable, Hashable {
        /// `"fail_batch"`, the default: the batch fails with `conflict`, nothing appended.
        case failBatch = "fail_batch"
        /// `"reject_event"`: the batch is appended event by event in its place, and only the
        /// conflicting events are left out (answered in `rejected`), as `journeyd import` does.
        case rejectEvent = "reject_event"
    }

    /// The events, at least one.
    public var events: [Event]
    /// What to do when an event's id is already stored with other content (the `on_conflict`
    /// member; `fail_batch` by default, not written when it is the default).
    public var onConflict: OnConflict

    /// An append of `events` (at least one, for the daemon to accept it) with this conflict policy.
    public init(events: [Event], onConflict: OnConflict = .failBatch) {
        self.events = events
        self.onConflict = onConflict
    }

    /// The request line: `{"op":"append",("on_conflict":…,)"events":[…]}`, each event in its
    /// canonical form (`EventJSON`); `on_conflict` only when not the default.
    public var line: [UInt8] {
        var w = JSONWriter()
        w.beginArray()
        for e in events { EventJSON.write(e, into: &w) }
        w.endArray()
        return Self.linePrefix(onConflict: onConflict) + w.bytes.dropFirst().dropLast() + Self.lineSuffix
    }

    /// The start of an append line, up to the `[` of its events, for a writer that streams
    /// event texts into the line: the prefix, the events' JSON objects separated by commas,
    /// then `lineSuffix`.
    public static func linePrefix(onConflict: OnConflict = .failBatch) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("op"); w.string("append")
        if onConflict != .failBatch { w.key("on_conflict"); w.string(onConflict.rawValue) }
        w.key("events")
        return w.bytes + [UInt8(ascii: "[")]
    }

    /// The end of an append line, after its last event: `]}`.
    public static let lineSuffix: [UInt8] = Array("]}".utf8)

    /// Reads and validates the request's events (any bad event fails the whole request, with
    /// `invalid_event` naming its index), then its `on_conflict`.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        events = try Self.events(r)
        onConflict = try Self.onConflict(r)
    }

    /// The validated events of an append request object.
    public static func events(_ r: JSONValue) throws(ProtocolError) -> [Event] {
        guard let list = r["events"]?.arrayValue else {
            throw ProtocolError.badRequest("append needs \"events\", an array of event objects")
        }
        guard !list.isEmpty else { throw ProtocolError.badRequest("\"events\" is empty") }
        var events: [Event] = []
        events.reserveCapacity(list.count)
        for (i, v) in list.enumerated() {
            do {
                events.append(try EventParser.validate(object: v))
            } catch {
                var e = error
                e.index = i
                throw ProtocolError("invalid_event", e.description)
            }
        }
        return events
    }

    /// The `on_conflict` of an append request object.
    public static func onConflict(_ r: JSONValue) throws(ProtocolError) -> OnConflict {
        guard let v = r["on_conflict"], !v.isNull else { return .failBatch }
        guard let s = v.stringValue, let option = OnConflict(rawValue: s) else {
            throw ProtocolError.badRequest("\"on_conflict\" must be \"fail_batch\" or \"reject_event\"")
        }
        return option
    }
}
