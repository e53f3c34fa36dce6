import Foundation
import Testing
@testable import JourneyCore

// Hand-written FHIR resources and the events SPEC §7 maps them to. Times: 2026-03-01T10:00:00Z
// is 1772359200000 ms, 2026-03-02T08:30:00Z 1772440200000, 2026-03-10T09:00:00Z 1773133200000,
// 2026-03-10T09:05:00Z 1773133500000, 2026-03-01T00:00:00Z 1772323200000.

private let created = 1_772_359_200_000 as Int64
private let updated = 1_772_440_200_000 as Int64
private let start = 1_773_133_200_000 as Int64
private let visitStart = 1_773_133_500_000 as Int64

/// An R4 Appointment with a patient, a location and a practitioner; `extra` members are appended.
private func appointment(_ status: String, id: String = "a1", extra: String = "",
                         participants: String? = nil) -> String {
    let p = participants ?? #"""
        [{"actor":{"reference":"Patient/p1","display":"Jane Q. Public"},"status":"accepted"},
         {"actor":{"reference":"Location/l1","display":"Main Street Clinic"},"status":"accepted"},
         {"actor":{"reference":"Practitioner/d1","display":"Dr. Ada Lee"},"status":"accepted"}]
        """#
    return #"{"resourceType":"Appointment","id":"\#(id)","status":"\#(status)","created":"2026-03-01T10:00:00Z","meta":{"lastUpdated":"2026-03-02T08:30:00Z"},"start":"2026-03-10T09:00:00Z","end":"2026-03-10T09:30:00Z","participant":\#(p)\#(extra)}"#
}

private func encounter(_ status: String, extra: String = "") -> String {
    #"{"resourceType":"Encounter","id":"e1","status":"\#(status)","class":{"code":"AMB"},"subject":{"reference":"Patient/p1","display":"Jane Q. Public"},"period":{"start":"2026-03-10T09:05:00Z","end":"2026-03-10T09:40:00Z"},"appointment":[{"reference":"Appointment/a1"}],"location":[{"location":{"reference":"Location/l1","display":"Main Street Clinic"}}],"participant":[{"individual":{"reference":"Practitioner/d1","display":"Dr. Ada Lee"}}]\#(extra)}"#
}

private func map(_ text: String) throws(EventError) -> MappedRecord {
    let r = Array(text.utf8).withUnsafeBufferPointer { b in
        Result { () throws(EventError) in try InputFormat.fhir.map(line: b) }
    }
    return try r.get()
}

private func rejection(_ text: String) -> EventError? {
    do {
        _ = try map(text)
        return nil
    } catch {
        return error
    }
}

/// The event with its id cleared, to compare content.
private func content(_ e: Event) -> Event {
    var c = e
    c.id = ""
    return c
}

@Suite("FHIR mapping: Appointment")
struct FHIRAppointmentTests {
    private let booking = Event(id: "", type: .booking, subject: "Patient/p1", at: created, appointment: "Appointment/a1",
                                scheduledFor: start, location: "Main Street Clinic", provider: "Dr. Ada Lee")

    @Test(arguments: ["booked", "arrived", "checked-in", "fulfilled"])
    func bookedStatusesAddOneBooking(status: String) throws {
        let r = try map(appointment(status))
        #expect(r.skipped == nil)
        #expect(r.events.map(content) == [booking])
        #expect(r.events[0].id.hasPrefix("fhir:Appointment/a1:booking:"))
        #expect(r.events[0].id.utf8.count == "fhir:Appointment/a1:booking:".utf8.count + 8)
    }

    @Test func cancelledAddsABookingAndACancellationAtLastUpdated() throws {
        let r = try map(appointment("cancelled"))
        let cancellation = Event(id: "", type: .cancellation, subject: "Patient/p1", at: updated, appointment: "Appointment/a1")
        #expect(r.events.map(content) == [booking, cancellation])
        #expect(r.events[1].id.hasPrefix("fhir:Appointment/a1:cancellation:"))
    }

    @Test func r5CancellationDateIsTheCancellationTime() throws {
        let r = try map(appointment("cancelled", extra: #","cancellationDate":"2026-03-01T11:00:00Z""#))
        #expect(r.events[1].at == 1_772_362_800_000)
    }

    @Test func noShowAddsABookingAndANoShowAtTheStart() throws {
        let r = try map(appointment("noshow"))
        let noShow = Event(id: "", type: .noShow, subject: "Patient/p1", at: start, appointment: "Appointment/a1")
        #expect(r.events.map(content) == [booking, noShow])
        #expect(r.events[1].id.hasPrefix("fhir:Appointment/a1:no_show:"))
    }

    @Test(arguments: ["proposed", "pending", "waitlist", "entered-in-error"])
    func unbookedStatusesAreSkippedByStatus(status: String) throws {
        let r = try map(appointment(status))
        #expect(r.events.isEmpty)
        #expect(r.skipped == "Appointment \(status)")
    }

    @Test func unknownStatusIsRejected() {
        let e = rejection(appointment("done"))
        #expect(e?.code == .badValue)
        #expect(e?.field == "status")
        #expect(e?.value == "done")
    }

    @Test func withoutCreatedTheBookingIsAtLastUpdated() throws {
        let text = appointment("booked").replacingFirst(#""created":"2026-03-01T10:00:00Z","#, with: "")
        #expect(try map(text).events[0].at == updated)
    }

    @Test func withoutCreatedOrLastUpdatedTheLineIsRejectedNamingCreated() {
        let text = appointment("booked").replacingFirst(#""created":"2026-03-01T10:00:00Z","#, with: "")
            .replacingFirst(#""meta":{"lastUpdated":"2026-03-02T08:30:00Z"},"#, with: "")
        let e = rejection(text)
        #expect(e?.code == .missingField)
        #expect(e?.field == "created")
        #expect(e?.detail == "Appointment/a1")
    }

    @Test func aCancellationNeedsATime() {
        let text = appointment("cancelled").replacingFirst(#""meta":{"lastUpdated":"2026-03-02T08:30:00Z"},"#, with: "")
        let e = rejection(text)
        #expect(e?.code == .missingField)
        #expect(e?.field == "cancellationDate")
    }

    @Test func withoutAPatientParticipantTheLineIsRejected() {
        let e = rejection(appointment("booked", participants: #"[{"actor":{"reference":"Location/l1"}}]"#))
        #expect(e?.code == .missingField)
        #expect(e?.field == "participant")
    }

    @Test func r5SubjectNamesThePatient() throws {
        let r = try map(appointment("booked", extra: #","subject":{"reference":"Patient/p9"}"#, participants: "[]"))
        #expect(r.events[0].subject == "Patient/p9")
        #expect(r.events[0].location == nil)
        #expect(r.events[0].provider == nil)
    }

    @Test func missingIdAndStatusAreNamed() {
        #expect(rejection(#"{"resourceType":"Appointment","status":"booked"}"#)?.field == "id")
        #expect(rejection(#"{"resourceType":"Appointment","id":"a1"}"#)?.field == "status")
        #expect(rejection(#"{"resourceType":"Appointment","id":7,"status":"booked"}"#)?.code == .wrongType)
    }

    @Test func withoutStartTheBookingHasNoScheduledTime() throws {
        let text = appointment("booked").replacingFirst(#""start":"2026-03-10T09:00:00Z","#, with: "")
        #expect(try map(text).events[0].scheduledFor == nil)
    }

    @Test func absoluteAndVersionedReferencesAreMadeRelative() throws {
        let p = #"[{"actor":{"reference":"https://ehr.example/fhir/Patient/p1/_history/3"}},{"actor":{"reference":"Practitioner/d2"}}]"#
        let r = try map(appointment("booked", participants: p))
        #expect(r.events[0].subject == "Patient/p1")
        // No display: the reference id, never anything else of the resource.
        #expect(r.events[0].provider == "Practitioner/d2")
    }

    @Test func aContainedPatientReferenceIsNotAPatient() {
        #expect(rejection(appointment("booked", participants: ##"[{"actor":{"reference":"#p1"}}]"##))?.field == "participant")
    }

    @Test func aBadTimeIsRejectedNamingTheField() {
        let text = appointment("booked").replacingFirst("2026-03-10T09:00:00Z", with: "2026-03-10T25:00:00Z")
        let e = rejection(text)
        #expect(e?.code == .badTimestamp)
        #expect(e?.field == "start")
    }

    @Test func aWholeDayIsItsMidnightUTC() throws {
        let text = appointment("booked").replacingFirst("2026-03-01T10:00:00Z", with: "2026-03-01")
        #expect(try map(text).events[0].at == 1_772_323_200_000)
        let month = appointment("booked").replacingFirst("2026-03-01T10:00:00Z", with: "2026-03")
        #expect(rejection(month)?.field == "created")
    }

    @Test func nothingIdentifyingIsStored() throws {
        let extra = #","description":"Tooth pain, call 555-0100","comment":"lives at 1 Elm St","patientInstruction":"bring ID""#
        let r = try map(appointment("cancelled", extra: extra))
        for e in r.events {
            let json = EventJSON.encode(e)
            for secret in ["Jane", "555", "Elm", "Tooth", "bring"] { #expect(!json.contains(secret), "\(json)") }
        }
    }

    @Test func aLongSubjectBreaksSPECLimitsAndNamesTheSourceField() {
        let long = String(repeating: "x", count: 130)
        let e = rejection(appointment("booked", participants: #"[{"actor":{"reference":"Patient/\#(long)"}}]"#))
        #expect(e?.code == .tooLong)
        #expect(e?.field == "participant.actor.reference")
    }
}

@Suite("FHIR mapping: Encounter and other resources")
struct FHIREncounterTests {
    private let visit = Event(id: "", type: .visit, subject: "Patient/p1", at: visitStart, appointment: "Appointment/a1",
                              location: "Main Street Clinic", provider: "Dr. Ada Lee")

    @Test func r4FinishedIsAVisit() throws {
        let r = try map(encounter("finished"))
        #expect(r.events.map(content) == [visit])
        #expect(r.events[0].id.hasPrefix("fhir:Encounter/e1:visit:"))
    }

    @Test func r5CompletedWithActualPeriodAndActorIsAVisit() throws {
        let text = #"{"resourceType":"Encounter","id":"e1","status":"completed","subject":{"reference":"Patient/p1"},"actualPeriod":{"start":"2026-03-10T09:05:00Z"},"appointment":[{"reference":"Appointment/a1"}],"location":[{"location":{"reference":"Location/l1","display":"Main Street Clinic"}}],"participant":[{"actor":{"reference":"RelatedPerson/r1","display":"John Public"}},{"actor":{"reference":"PractitionerRole/d1","display":"Dr. Ada Lee"}}]}"#
        #expect(try map(text).events.map(content) == [visit])
    }

    @Test(arguments: ["planned", "arrived", "triaged", "in-progress", "onleave", "cancelled", "entered-in-error",
                      "unknown", "on-hold", "discharged", "discontinued"])
    func otherStatusesAreSkippedByStatus(status: String) throws {
        let r = try map(encounter(status))
        #expect(r.events.isEmpty)
        #expect(r.skipped == "Encounter \(status)")
    }

    @Test func anEncounterWithoutPeriodOrSubjectIsRejected() {
        let noPeriod = encounter("finished").replacingFirst(#""period":{"start":"2026-03-10T09:05:00Z","end":"2026-03-10T09:40:00Z"},"#, with: "")
        #expect(rejection(noPeriod)?.field == "period.start")
        let noSubject = encounter("finished").replacingFirst(#""subject":{"reference":"Patient/p1","display":"Jane Q. Public"},"#, with: "")
        #expect(rejection(noSubject)?.field == "subject.reference")
        let group = encounter("finished").replacingFirst("Patient/p1", with: "Group/g1")
        #expect(rejection(group)?.code == .badValue)
    }

    @Test func aMinimalVisitHasNoAppointmentLocationOrProvider() throws {
        let text = #"{"resourceType":"Encounter","id":"e2","status":"finished","subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-10T09:05:00Z"}}"#
        let e = try map(text).events[0]
        #expect(content(e) == Event(id: "", type: .visit, subject: "Patient/p1", at: visitStart))
    }

    @Test func otherResourceTypesAreSkippedByType() throws {
        #expect(try map(#"{"resourceType":"Patient","id":"p1","name":[{"family":"Public"}],"birthDate":"1980-01-01"}"#).skipped == "Patient")
        #expect(try map(#"{"resourceType":"Observation","id":"o1"}"#).skipped == "Observation")
    }

    @Test func notAResourceIsRejected() {
        #expect(rejection("[1]")?.code == .wrongType)
        #expect(rejection(#"{"id":"x"}"#)?.field == "resourceType")
        #expect(rejection("{nope")?.code == .invalidJSON)
    }
}

@Suite("FHIR mapping: derived ids")
struct FHIRDerivedIDTests {
    @Test func fnv1aMatchesTheReferenceVectors() {
        #expect(DerivedEventID.fnv1a([]) == 0xcbf2_9ce4_8422_2325)
        #expect(DerivedEventID.fnv1a(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(DerivedEventID.fnv1a(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    }

    @Test func theSameResourceMapsToTheSameIds() throws {
        #expect(try map(appointment("cancelled")).events == map(appointment("cancelled")).events)
        // Member order and whitespace do not matter: the digest is over the event, not the text.
        let reordered = #"{"status":"booked","id":"a1","resourceType":"Appointment","participant":[{"actor":{"display":"Jane Q. Public","reference":"Patient/p1"}},{"actor":{"reference":"Location/l1","display":"Main Street Clinic"}},{"actor":{"reference":"Practitioner/d1","display":"Dr. Ada Lee"}}],"start":"2026-03-10T09:00:00Z","created":"2026-03-01T10:00:00Z"}"#
        #expect(try map(reordered).events == map(appointment("booked")).events)
    }

    @Test func aStatusChangeKeepsTheBookingAndAddsTheNewEvent() throws {
        let booked = try map(appointment("booked")).events
        let cancelled = try map(appointment("cancelled")).events
        #expect(cancelled[0] == booked[0])
        #expect(cancelled.count == 2)
    }

    @Test func aRescheduleAddsABookingWithAnotherId() throws {
        let moved = appointment("booked").replacingFirst("2026-03-10T09:00:00Z", with: "2026-03-11T09:00:00Z")
        let a = try map(appointment("booked")).events[0]
        let b = try map(moved).events[0]
        #expect(a.id != b.id)
        #expect(b.id.hasPrefix("fhir:Appointment/a1:booking:"))
        #expect(b.appointment == a.appointment)
    }

    @Test func aLongResourceIdIsDigested() throws {
        let id = String(repeating: "A", count: 64)
        let e = try map(appointment("cancelled", id: id)).events[1]
        #expect(e.id.utf8.count <= 64)
        #expect(e.id.hasPrefix("fhir:Appointment/#"))
        #expect(e.id.contains(":cancellation:"))
        #expect(e.appointment == "Appointment/\(id)")
    }
}

extension String {
    /// This string with the first occurrence of `target` replaced (the test fails loudly if absent).
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else {
            Issue.record("\(target) not found")
            return self
        }
        return replacingCharacters(in: r, with: replacement)
    }
}
