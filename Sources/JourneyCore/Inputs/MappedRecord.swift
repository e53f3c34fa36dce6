/// What one record of a standard input (a FHIR resource, a Segment message) becomes: the events
/// it maps to, or why it adds none.
package struct MappedRecord: Sendable, Hashable {
    /// The events, in the order they are appended (a booking before its cancellation).
    package var events: [Event]
    /// Why the record adds no event, as the import counts it (`Patient`,
    /// `Appointment proposed`, `track "Product Viewed"`); nil when it maps to events.
    package var skipped: String?

    /// A record that maps to `events`.
    package init(events: [Event]) {
        self.events = events
        skipped = nil
    }

    /// A record that adds no event, counted under `reason`.
    package init(skipped reason: String) {
        events = []
        skipped = reason
    }

    /// A name from the input (a resource type, a track event name) made safe to count and print:
    /// at most 64 characters, control, bidirectional and zero-width characters shown as `?`.
    static func printable(_ name: Substring) -> String {
        var out = String.UnicodeScalarView()
        for u in name.unicodeScalars.prefix(64) { out.append(IdCharacters.kind(of: u.value) == nil ? u : "?") }
        return String(out)
    }
}

/// A standard input format an import or the HTTP API maps to events (SPEC §7).
package enum InputFormat: Sendable {
    /// FHIR R4 Bulk Data NDJSON: one resource a line (`FHIRMapping`).
    case fhir
    /// Segment Spec messages: one message a line (`SegmentMapping`).
    case segment(SegmentMapping)

    /// Maps one line of input (a JSON object).
    ///
    /// - Throws: `EventError` naming the source field and why it cannot be mapped: invalid JSON,
    ///   a missing or wrong-typed field, or a mapped event that breaks a rule of SPEC §1.
    package func map(line: UnsafeBufferPointer<UInt8>) throws(EventError) -> MappedRecord {
        let value: JSONValue
        do { value = try JSONParser().parse(line) } catch { throw EventError(error) }
        switch self {
        case .fhir: return try FHIRMapping.map(value)
        case .segment(let mapping): return try mapping.map(value)
        }
    }
}

/// Checks a mapped event against the rules of SPEC §1 (lengths, id characters, required
/// fields, 4 KiB) by the same parser as every other input, so a mapped event is stored only if
/// the same event sent as NDJSON would be.
enum MappedEventCheck {
    /// `event` as the parser reads its canonical JSON.
    ///
    /// - Parameter sources: the source field each event field came from, named in the error.
    static func checked(_ event: Event, sources: [String: String]) throws(EventError) -> Event {
        do {
            return try EventParser.parse(Array(EventJSON.encode(event).utf8))
        } catch {
            var e = error
            // Name the field of the input, which the user can fix, and the event field it fills.
            if let f = e.field, let source = sources[f] {
                e.field = source
                e.detail = [e.detail, "as the event's \(f)"].compactMap { $0 }.joined(separator: "; ")
            }
            throw e
        }
    }
}
