// Fuzz target: the standard-input mappers, FHIR resources (`FHIRMapping`) and, when the first
// byte is odd, Segment messages (`SegmentMapping`), from the lines of an NDJSON file.
//
// Invariants: mapping never crashes; it is deterministic; a record maps to events or is
// skipped, never both; at most two events a record (a booking and its outcome); every event
// passes SPEC §1 as the NDJSON parser reads it back (`EventParser.parse(EventJSON.encode(e)) == e`,
// so ids are 1–64 characters, within the 4 KiB limit); FHIR ids carry their `fhir:` prefix.
import Glibc
import JourneyCore

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let fhir = [
            #"{"resourceType":"Appointment","id":"a1","status":"cancelled","created":"2026-03-01T10:00:00Z","meta":{"lastUpdated":"2026-03-02T08:30:00Z"},"start":"2026-03-10T09:00:00Z","participant":[{"actor":{"reference":"Patient/p1","display":"Jane"}},{"actor":{"reference":"Location/l1","display":"Main"}},{"actor":{"reference":"Practitioner/d1"}}]}"#,
            #"{"resourceType":"Appointment","id":"a2","status":"noshow","created":"2026-03-01","start":"2026-03-10T09:00:00+02:00","subject":{"reference":"https://x/fhir/Patient/p2/_history/2"},"participant":[]}"#,
            #"{"resourceType":"Appointment","id":"a3","status":"proposed"}"#,
            #"{"resourceType":"Encounter","id":"e1","status":"finished","subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-10T09:05:00Z"},"appointment":[{"reference":"Appointment/a1"}],"location":[{"location":{"reference":"Location/l1","display":"Main"}}],"participant":[{"individual":{"reference":"Practitioner/d1","display":"Dr"}}]}"#,
            #"{"resourceType":"Encounter","id":"e2","status":"completed","subject":{"reference":"Patient/p1"},"actualPeriod":{"start":"2026-03-10T09:05:00Z"},"participant":[{"actor":{"reference":"PractitionerRole/r1"}}]}"#,
            #"{"resourceType":"Patient","id":"p1","name":[{"family":"Public"}]}"#,
        ]
        let segment = [
            #"{"type":"page","name":"Home","anonymousId":"a1","messageId":"m1","timestamp":"2026-03-01T10:00:00.123456+00:00","properties":{"path":"/","n":1},"context":{"campaign":{"name":"c","source":"s","medium":"m","term":"t"}}}"#,
            #"{"type":"track","event":"Appointment Booked","userId":"p1","messageId":"m2","timestamp":"2026-03-01T10:00:00Z","properties":{"appointment_id":7,"scheduled_for":"2026-03-10T09:00:00Z","location":"Main","revenue":1.5}}"#,
            #"{"type":"track","event":"Appointment Completed","userId":"p1","messageId":"m3","originalTimestamp":"2026-03-01T10:00:00Z","properties":{"revenue":120.5,"channel":"phone"}}"#,
            #"{"type":"identify","userId":"p1","anonymousId":"a1","messageId":"m4","timestamp":"2026-03-01T10:00:00Z","traits":{"email":"x"}}"#,
            #"{"type":"alias","previousId":"a2","userId":"p1","messageId":"m5","receivedAt":"2026-03-01T10:00:00Z"}"#,
            #"{"type":"track","event":"Call Started","userId":"p1","messageId":"m6","timestamp":"2026-03-01T10:00:00Z","properties":{"direction":"out","duration":30,"outcome":"missed"}}"#,
        ]
        return [[0] + Array(fhir.joined(separator: "\n").utf8), [1] + Array(segment.joined(separator: "\n").utf8)]
            + fhir.map { [2] + Array($0.utf8) } + segment.map { [3] + Array($0.utf8) }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let format: InputFormat = data[0] & 1 == 0 ? .fhir : .segment(SegmentMapping())
    var splitter = NDJSONLineSplitter(maxLineLength: 64 << 10)
    splitter.feed(UnsafeBufferPointer(start: data + 1, count: size - 1)) { item in check(item, format) }
    splitter.finish { item in check(item, format) }
    return 0
}

func check(_ item: NDJSONLine, _ format: InputFormat) {
    guard case .line(let number, let bytes) = item else { return }
    let text = NDJSONLine.content(number: number, bytes)
    let first = Result { () throws(EventError) in try format.map(line: text) }
    let second = Result { () throws(EventError) in try format.map(line: text) }
    switch (first, second) {
    case (.success(let a), .success(let b)):
        check(a == b, "mapping is not deterministic")
        check(a.skipped == nil || a.events.isEmpty, "skipped with events")
        check(a.skipped != nil || !a.events.isEmpty, "neither events nor skipped")
        check(a.events.count <= 2, "\(a.events.count) events from one record")
        for e in a.events {
            let json = EventJSON.encode(e)
            let back = Result { () throws(EventError) in try EventParser.parse(Array(json.utf8)) }
            guard case .success(let parsed) = back else {
                check(false, "a mapped event fails SPEC §1: \(json)")
                return
            }
            check(parsed == e, "a mapped event does not read back as itself: \(json)")
            if case .fhir = format { check(e.id.hasPrefix(FHIRMapping.idPrefix), "FHIR id without prefix: \(e.id)") }
        }
    case (.failure(let a), .failure(let b)):
        check(a == b, "errors differ between two runs")
    default:
        check(false, "one run failed and the other did not")
    }
}
