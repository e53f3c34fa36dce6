// Fuzz target: one event's JSON text, through both validation paths.
//
// `EventParser.parse` (the byte-level import path) and `JSONParser` + `EventParser.validate(object:)`
// (the socket path) must agree: both accept the same events (up to the 4 KiB limit, which each
// measures differently), and an accepted event round-trips through export JSON and the binary
// record unchanged. `EventRecord.appendParsing` (the import's straight-to-record path) may
// decline anything, but what it accepts the general path accepts too, with the same record.
import JourneyCore

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked { seedEventLines(count: 200).map { Array($0.utf8) } }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let direct = Result { () throws(EventError) in try EventParser.parse(bytes) }
    let json = Result { () throws(JSONParseError) in try JSONParser().parse(bytes) }

    if case .success = direct, case .failure(let e) = json {
        check(false, "EventParser accepted a text JSONParser rejects: \(e)")
    }
    if case .success(let value) = json {
        // The compact size the socket path limits must be the size the writer really writes.
        var w = JSONWriter()
        value.write(into: &w)
        check(w.bytes.count == value.compactSize, "compactSize \(value.compactSize) but \(w.bytes.count) bytes written")
        check((try? JSONParser().parse(w.bytes)) == value, "compact JSON does not parse back to the same value")

        let viaValue = Result { () throws(EventError) in try EventParser.validate(object: value) }
        switch (direct, viaValue) {
        case (.success(let a), .success(let b)):
            check(a == b, "the two paths built different events:\n\(a)\n\(b)")
        case (.failure(let e), .success):
            check(e.code == .tooLarge, "parse rejected what validate(object:) accepts: \(e)")
        case (.success, .failure(let e)):
            check(e.code == .tooLarge, "validate(object:) rejected what parse accepts: \(e)")
        case (.failure, .failure):
            break
        }
    }
    if case .success(let event) = direct { roundTrip(event) }
    checkFastRecord(bytes, direct)
    return 0
}

/// The fast path accepts only what `EventParser.parse` accepts, and writes the same record.
func checkFastRecord(_ bytes: UnsafeBufferPointer<UInt8>, _ direct: Result<Event, EventError>) {
    var out: [UInt8] = [7]
    let accepted = EventRecord.appendParsing(bytes, to: &out)
    guard accepted else {
        check(out == [7], "the fast path declined but changed its output")
        return
    }
    switch direct {
    case .failure(let e):
        check(false, "the fast path accepted a text the general path rejects: \(e)")
    case .success(let event):
        check(out.first == 7, "the fast path changed the bytes before its record")
        let expected = try? EventRecord.encode(event)
        check(expected != nil && Array(out.dropFirst()) == expected!, "the fast path wrote another record than the general path")
    }
}

/// An accepted event survives export JSON and the stored record unchanged.
func roundTrip(_ e: Event) {
    let text = EventJSON.encode(e)
    switch Result(catching: { () throws(EventError) in try EventParser.parse(text) }) {
    case .success(let back): check(back == e, "export JSON round trip changed the event:\n\(e)\n\(back)\n\(text)")
    case .failure(let error): check(error.code == .tooLarge, "export JSON of an accepted event is rejected: \(error)\n\(text)")
    }

    let record: [UInt8]
    do { record = try EventRecord.encode(e) } catch {
        check(false, "an accepted event cannot be encoded: \(error)")
        return
    }
    record.withUnsafeBytes { raw in
        do {
            let view = try EventView(validating: raw)
            check(view.type == e.type && view.at == e.at && view.channel == e.channel, "view scalars differ")
            check(view.resolved == e.resolved && view.direction == e.direction && view.outcome == e.outcome, "view flags differ")
            check(view.toChannel == e.toChannel && view.status == e.status, "view enums differ")
            check(view.durationS == e.durationS && view.scheduledFor == e.scheduledFor && view.amountCents == e.amountCents,
                  "view integers differ")
            check(view.effectiveChannel == e.effectiveChannel && view.isInquiry == e.isInquiry, "view derived values differ")
            check(view.id.elementsEqual(e.id.utf8) && view.subject.elementsEqual(e.subject.utf8), "view id/subject differ")
            check(view.attrCount == e.attrs.count, "view attribute count differs")
            let decoded = try view.event()
            check(decoded == e, "record round trip changed the event:\n\(e)\n\(decoded)")
        } catch {
            check(false, "the record of an accepted event does not decode: \(error)")
        }
    }
}
