/// Maps FHIR resources, as FHIR R4 Bulk Data NDJSON carries them, to events (SPEC §7).
///
/// | resource | status | events |
/// | --- | --- | --- |
/// | `Appointment` | `booked` `arrived` `checked-in` `fulfilled` | `booking` |
/// | `Appointment` | `cancelled` | `booking`, `cancellation` |
/// | `Appointment` | `noshow` | `booking`, `no_show` |
/// | `Appointment` | `proposed` `pending` `waitlist` `entered-in-error` | none (skipped, counted) |
/// | `Encounter` | `finished` (R4), `completed` (R5) | `visit` |
/// | `Encounter` | any other status | none (skipped, counted) |
/// | any other type | | none (skipped, counted by type) |
///
/// Only the fields named here are read: nothing of a resource but its reference ids, times,
/// and the displays of its Location and Practitioner is stored (no names, telecom, addresses or
/// birth dates). Event ids are derived from the resource and the event's content
/// (`DerivedEventID`): a resource imported again is all duplicates, and a changed one adds only
/// the events whose content changed (a status change adds its new event; a rescheduled
/// appointment adds a booking for its new time, the appointment's earliest booking still
/// defining it).
package enum FHIRMapping {
    /// The prefix of every event id drawn from a FHIR resource.
    package static let idPrefix = "fhir:"

    /// The Appointment statuses that add a booking.
    static let bookedStatuses: Set<String> = ["booked", "arrived", "checked-in", "fulfilled", "cancelled", "noshow"]
    /// The Appointment statuses of an appointment not (or never) booked.
    static let unbookedStatuses: Set<String> = ["proposed", "pending", "waitlist", "entered-in-error"]
    /// The Encounter statuses of an encounter that took place: `finished` (R4), `completed` (R5).
    static let visitStatuses: Set<String> = ["finished", "completed"]
    /// The other Encounter statuses of R4 and R5.
    static let otherEncounterStatuses: Set<String> = [
        "planned", "arrived", "triaged", "in-progress", "onleave", "cancelled", "entered-in-error", "unknown",
        "on-hold", "discharged", "discontinued",
    ]
    /// Participant reference types read as the provider.
    static let providerTypes = ["Practitioner", "PractitionerRole"]

    /// Maps one resource.
    ///
    /// - Throws: `EventError` naming the resource's field and the reason when a resource of a
    ///   mapped type cannot be mapped (missing `id`, `status`, patient or time, a bad time, an
    ///   event that breaks a rule of SPEC §1).
    package static func map(_ resource: JSONValue) throws(EventError) -> MappedRecord {
        guard case .object = resource else { throw EventError(.wrongType, "a FHIR resource must be a JSON object") }
        let type = try requiredString(resource, "resourceType")
        switch type {
        case "Appointment": return try appointment(resource)
        case "Encounter": return try encounter(resource)
        default: return MappedRecord(skipped: MappedRecord.printable(Substring(type)))
        }
    }

    // MARK: Appointment

    private static func appointment(_ r: JSONValue) throws(EventError) -> MappedRecord {
        let id = try requiredString(r, "id")
        let status = try requiredString(r, "status", resource: "Appointment/\(id)")
        let ref = "Appointment/\(id)"
        if unbookedStatuses.contains(status) { return MappedRecord(skipped: "Appointment \(status)") }
        guard bookedStatuses.contains(status) else {
            throw EventError(.badValue, "not an Appointment status", field: "status", value: status, detail: ref)
        }
        let participants = try array(r, "participant", resource: ref)
        var subject: String?
        var location: String?
        var provider: String?
        for p in participants {
            let actor = p["actor"]
            guard let reference = FHIRReference.reference(of: actor) else { continue }
            if subject == nil, let patient = FHIRReference.relative(reference, types: ["Patient"]) {
                subject = patient
            } else if location == nil, let l = FHIRReference.relative(reference, types: ["Location"]) {
                location = FHIRReference.display(of: actor) ?? l
            } else if provider == nil, let pr = FHIRReference.relative(reference, types: providerTypes) {
                provider = FHIRReference.display(of: actor) ?? pr
            }
        }
        var subjectField = "participant.actor.reference"
        if subject == nil, let reference = FHIRReference.reference(of: r["subject"]) {
            // R5 names the patient in `subject` too.
            subject = FHIRReference.relative(reference, types: ["Patient"])
            subjectField = "subject.reference"
        }
        guard let subject else {
            throw EventError(.missingField, "no Patient participant (participant[].actor.reference \"Patient/…\")",
                             field: "participant", detail: ref)
        }
        let (at, atField) = try firstTime(r, ["created", "meta.lastUpdated"], resource: ref, purpose: "the time of the booking")
        let start = try time(r, "start", resource: ref)
        let sources = ["subject": subjectField, "at": atField, "scheduled_for": "start", "appointment": "id",
                       "location": "participant.actor.display", "provider": "participant.actor.display"]
        var events = [try derived(
            Event(id: "", type: .booking, subject: subject, at: at, appointment: ref, scheduledFor: start,
                  location: location, provider: provider),
            id: id, kind: "booking", sources: sources)]
        switch status {
        case "cancelled":
            let (when, field) = try firstTime(r, ["cancellationDate", "meta.lastUpdated"], resource: ref,
                                              purpose: "the time of the cancellation")
            var s = sources
            s["at"] = field
            events.append(try derived(Event(id: "", type: .cancellation, subject: subject, at: when, appointment: ref),
                                      id: id, kind: "cancellation", sources: s))
        case "noshow":
            let (when, field) = try firstTime(r, ["start", "meta.lastUpdated"], resource: ref,
                                              purpose: "the time of the no-show")
            var s = sources
            s["at"] = field
            events.append(try derived(Event(id: "", type: .noShow, subject: subject, at: when, appointment: ref),
                                      id: id, kind: "no_show", sources: s))
        default:
            break
        }
        return MappedRecord(events: events)
    }

    // MARK: Encounter

    private static func encounter(_ r: JSONValue) throws(EventError) -> MappedRecord {
        let id = try requiredString(r, "id")
        let ref = "Encounter/\(id)"
        let status = try requiredString(r, "status", resource: ref)
        guard visitStatuses.contains(status) else {
            guard otherEncounterStatuses.contains(status) else {
                throw EventError(.badValue, "not an Encounter status", field: "status", value: status, detail: ref)
            }
            return MappedRecord(skipped: "Encounter \(status)")
        }
        guard let reference = FHIRReference.reference(of: r["subject"]) else {
            throw EventError(.missingField, "missing required field", field: "subject.reference", detail: ref)
        }
        guard let subject = FHIRReference.relative(reference, types: ["Patient"]) else {
            throw EventError(.badValue, "not a Patient reference", field: "subject.reference", value: reference, detail: ref)
        }
        // R4 `period`, R5 `actualPeriod`.
        let (at, atField) = try firstTime(r, ["period.start", "actualPeriod.start"], resource: ref,
                                          purpose: "the time of the visit")
        var appointment: String?
        let appointments = r["appointment"].map { $0.arrayValue ?? [$0] } ?? []
        for a in appointments {
            if let reference = FHIRReference.reference(of: a),
               let rel = FHIRReference.relative(reference, types: ["Appointment"]) {
                appointment = rel
                break
            }
        }
        var location: String?
        if let first = try array(r, "location", resource: ref).first {
            let l = first["location"]
            location = FHIRReference.display(of: l)
                ?? FHIRReference.reference(of: l).flatMap { FHIRReference.relative($0, types: ["Location"]) }
        }
        var provider: String?
        for p in try array(r, "participant", resource: ref) {
            // R4 `individual`, R5 `actor`; only staff, never a relative or the patient.
            let who = p["individual"] ?? p["actor"]
            guard let reference = FHIRReference.reference(of: who),
                  let rel = FHIRReference.relative(reference, types: providerTypes) else { continue }
            provider = FHIRReference.display(of: who) ?? rel
            break
        }
        let sources = ["subject": "subject.reference", "at": atField, "appointment": "appointment.reference",
                       "location": "location.location.display", "provider": "participant.individual.display"]
        let visit = try derived(
            Event(id: "", type: .visit, subject: subject, at: at, appointment: appointment, location: location,
                  provider: provider),
            id: id, kind: "visit", sources: sources)
        return MappedRecord(events: [visit])
    }

    // MARK: fields

    /// `event` with its derived id, checked against SPEC §1.
    private static func derived(_ event: Event, id: String, kind: String, sources: [String: String]) throws(EventError) -> Event {
        var e = event
        e.id = DerivedEventID.make(prefix: idPrefix, recordType: event.type == .visit ? "Encounter" : "Appointment",
                                   recordID: id, kind: kind, event: event)
        var s = sources
        s["id"] = "id"
        return try MappedEventCheck.checked(e, sources: s)
    }

    /// The value at a dotted path (`meta.lastUpdated`).
    static func value(_ r: JSONValue, _ path: String) -> JSONValue? {
        var v: JSONValue? = r
        for part in path.split(separator: ".") { v = v?[String(part)] }
        if let v, v.isNull { return nil }
        return v
    }

    private static func requiredString(_ r: JSONValue, _ field: String, resource: String? = nil) throws(EventError) -> String {
        guard let v = value(r, field) else {
            throw EventError(.missingField, "missing required field", field: field, detail: resource)
        }
        guard let s = v.stringValue else {
            throw EventError(.wrongType, "expected a string", field: field, detail: resource)
        }
        guard !s.isEmpty else { throw EventError(.badValue, "must not be empty", field: field, detail: resource) }
        return s
    }

    /// The array at `field`, empty when absent.
    private static func array(_ r: JSONValue, _ field: String, resource: String) throws(EventError) -> [JSONValue] {
        guard let v = value(r, field) else { return [] }
        guard let a = v.arrayValue else { throw EventError(.wrongType, "expected an array", field: field, detail: resource) }
        return a
    }

    /// The time at `field`, nil when absent.
    private static func time(_ r: JSONValue, _ field: String, resource: String) throws(EventError) -> Int64? {
        guard let v = value(r, field) else { return nil }
        guard let s = v.stringValue else { throw EventError(.wrongType, "expected a string", field: field, detail: resource) }
        do {
            return try FHIRTime.parse(s)
        } catch {
            throw EventError(.badTimestamp, "bad FHIR dateTime", field: field, value: s, detail: "\(error.reason); \(resource)")
        }
    }

    /// The first of `fields` that is given, and its name.
    private static func firstTime(_ r: JSONValue, _ fields: [String], resource: String, purpose: String) throws(EventError) -> (Int64, String) {
        for f in fields {
            if let t = try time(r, f, resource: resource) { return (t, f) }
        }
        throw EventError(.missingField, "missing: \(purpose) is taken from \(fields.joined(separator: ", else "))",
                         field: fields[0], detail: resource)
    }
}

/// FHIR `dateTime` and `instant` values as epoch milliseconds.
enum FHIRTime {
    /// Parses a full RFC 3339 time with offset (as `instant`, and `dateTime` with a time, must
    /// carry), or a whole day `YYYY-MM-DD`, read as its midnight UTC. A year or a month alone is
    /// too coarse for a touchpoint and is refused.
    static func parse(_ text: String) throws(Timestamp.ParseError) -> Int64 {
        var s = text
        let day = s.utf8.count == 10 && !s.contains("T")
        if day { s += "T00:00:00Z" }
        if s.utf8.count == 4 || s.utf8.count == 7 { throw Timestamp.ParseError("a day at least is needed, got only a year or month") }
        let r = s.withUTF8 { b in Result { () throws(Timestamp.ParseError) in try Timestamp.parseRFC3339(b) } }
        return try r.get()
    }
}
