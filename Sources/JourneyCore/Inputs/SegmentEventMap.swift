/// Which event type a Segment `track` call's event name becomes (SPEC §7): a default table of
/// common names, and a practice's own names read from a `--map` file.
///
/// Names are matched exactly (Segment's names are case-sensitive). A name that is not in the
/// map is skipped and counted, never guessed.
package struct SegmentEventMap: Sendable, Hashable {
    /// Event name → type; a nil type skips the name even when the default table maps it.
    package private(set) var types: [String: EventType?]

    /// The default table: names from Segment's specs and the ones practices commonly send.
    package static let defaultNames: [(name: String, type: EventType)] = [
        ("Appointment Booked", .booking),
        ("Appointment Scheduled", .booking),
        ("Appointment Cancelled", .cancellation),
        ("Appointment Canceled", .cancellation),
        ("Appointment No Show", .noShow),
        ("Appointment Missed", .noShow),
        ("Appointment Completed", .visit),
        ("Appointment Attended", .visit),
        ("Form Submitted", .form),
        ("Contact Form Submitted", .form),
        ("Chat Started", .chat),
        ("Live Chat Started", .chat),
        ("Call Started", .call),
        ("Call Completed", .call),
        ("Email Sent", .messageSent),
        ("Email Opened", .messageOpened),
    ]

    /// The default table alone.
    package static let standard = SegmentEventMap(types: Dictionary(
        uniqueKeysWithValues: defaultNames.map { ($0.name, Optional($0.type)) }))

    package init(types: [String: EventType?]) {
        self.types = types
    }

    /// The type `name` maps to, nil when it is not mapped.
    package func type(for name: String) -> EventType? {
        types[name] ?? nil
    }

    /// This map with a practice's own entries over it: a JSON object of event name → type name
    /// (`{"Consult Requested":"form"}`), where `null` removes a name of the default table.
    ///
    /// - Throws: `EventError` naming the entry: not an object, a value that is neither a type
    ///   name nor null, an unknown type, or `identify` (which `identify` and `alias` calls give).
    package func merging(json bytes: [UInt8]) throws(EventError) -> SegmentEventMap {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw EventError(error) }
        guard let members = value.objectValue else {
            throw EventError(.wrongType, "an event map must be a JSON object of event name → event type")
        }
        var merged = self
        for m in members {
            switch m.value {
            case .null:
                merged.types[m.key] = .some(nil)
            case .string(let name):
                guard let type = EventType(name: name) else {
                    throw EventError(.badValue, "unknown event type", field: m.key, value: name)
                }
                guard type != .identify else {
                    throw EventError(.badValue, "identify comes from identify and alias calls, not track", field: m.key, value: name)
                }
                merged.types[m.key] = type
            default:
                throw EventError(.wrongType, "expected an event type name or null", field: m.key)
            }
        }
        return merged
    }
}
