import JourneyCore

/// A line of a subscription after its answer: one event of the log and its position,
/// `{"position":P,"event":{…}}`.
public struct SubscriptionEvent: Sendable, Hashable {
    /// The event's position in the log.
    public var position: UInt64
    /// The event.
    public var event: Event

    /// The stream line for the event at `position` in the log.
    public init(position: UInt64, event: Event) {
        self.position = position
        self.event = event
    }

    /// The line (without its newline).
    public var line: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("position"); w.int(Int64(position))
        w.key("event")
        EventJSON.write(event, into: &w)
        w.endObject()
        return w.bytes
    }

    /// Reads a stream line: an event, or the daemon's error that ends the stream.
    public static func decode(_ line: [UInt8]) throws(AnswerError) -> Result<SubscriptionEvent, ProtocolError> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw AnswerError("not JSON: \(error)")
        }
        if value["ok"]?.boolValue == false {
            return .failure(value["error"].flatMap(ProtocolError.init(object:)) ?? ProtocolError("unknown", ""))
        }
        guard let position = value["position"]?.int64Value, position >= 1, let object = value["event"] else {
            throw AnswerError("a line without \"position\" and \"event\"")
        }
        do {
            return .success(SubscriptionEvent(position: UInt64(position), event: try EventParser.validate(object: object)))
        } catch {
            throw AnswerError("the event at position \(position): \(error)")
        }
    }
}
