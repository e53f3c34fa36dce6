// Fuzz target: a projection checkpoint as read back from disk (possibly corrupt).
//
// `Projector(deserializing:)` must reject a malformed snapshot with a `SnapshotError`; one it
// accepts must serialize stably, answer every query without a crash (the queries do time
// arithmetic and index into the loaded tables), and keep folding new events.
import JourneyCore

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let events = seedEventLines(count: 120).compactMap { try? EventParser.parse($0) }
        var seeds: [[UInt8]] = [Projector().serialize()]
        for n in [1, 2, 5, 12, 21, 40, events.count] {
            var p = Projector()
            p.apply(contentsOf: events.prefix(n))
            seeds.append(p.serialize())
        }
        return seeds
    }
    return 0
}

let asOfs: [Int64] = [0, 1_772_373_900_000, 253_402_300_799_999, -62_135_596_800_000]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard var p = try? Projector(deserializing: bytes) else { return 0 }

    let again = p.serialize()
    guard let reloaded = try? Projector(deserializing: again) else {
        check(false, "a loaded snapshot serializes to bytes that do not load")
        return 0
    }
    check(reloaded.serialize() == again, "serialize → deserialize → serialize is not stable")

    var ids: [String] = []
    for probe in ["p-1", "anon-7f3a", "p-2", "e1", ""] where p.canonicalId(of: probe) != nil { ids.append(probe) }
    for asOf in asOfs {
        for id in ids {
            if let s = p.patient(id: id, asOf: asOf) { var w = JSONWriter(); s.writeJSON(into: &w); checkJSON(w.bytes) }
            if let h = p.handoff(id: id, asOf: asOf) { var w = JSONWriter(); h.writeJSON(into: &w); checkJSON(w.bytes) }
        }
        let page = p.atRisk(asOf: asOf, limit: 5, after: nil)
        var w = JSONWriter(); page.writeJSON(into: &w); checkJSON(w.bytes)
    }
    var w = JSONWriter()
    p.funnel(FunnelQuery()).writeJSON(into: &w)
    p.contacts().writeJSON(into: &w)

    // Keep folding on top of the loaded state: a merge of two clusters and a late event.
    p.apply(Event(id: "fuzz-identify", type: .identify, subject: "anon-7f3a", at: 1_772_373_900_000, patient: "p-1"))
    p.apply(Event(id: "fuzz-visit", type: .visit, subject: "p-1", at: 1_700_000_000_000, appointment: "a-9", amountCents: 100))
    _ = p.patient(id: "p-1", asOf: asOfs[1])
    _ = p.handoff(id: "p-1", asOf: asOfs[1])
    _ = p.funnel(FunnelQuery())
    return 0
}

func checkJSON(_ bytes: [UInt8]) {
    check((try? JSONParser.parse(bytes)) != nil, "a report is not valid JSON: \(String(decoding: bytes, as: UTF8.self))")
}
