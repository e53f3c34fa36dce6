import Testing
@testable import JourneyCore

/// Folding stored records straight from their bytes (`apply(_: EventView)`) must answer exactly
/// what folding the decoded events does.
@Suite("Folding from record bytes")
struct ViewFoldTests {
    static func foldViews(_ events: [Event], into p: inout Projector) throws {
        for e in events {
            let bytes = try EventRecord.encode(e)
            try bytes.withUnsafeBytes { raw in
                try p.apply(try EventView(validating: raw))
            }
        }
    }

    @Test(arguments: [(3, false), (4, false), (24, true)] as [(UInt64, Bool)])
    func viewPathMatchesEventPath(seed: UInt64, dense: Bool) throws {
        var events = PropertyPractice.make(seed: seed, patients: 60, dense: dense)
        // Attributes and a few long strings (not inline-sized) take the other code paths.
        for i in stride(from: 0, to: events.count, by: 7) {
            events[i].attrs = [.init(key: "k", value: "vé")]
            events[i].concern = (events[i].concern ?? "") + String(repeating: "long concern ", count: 3)
        }
        let ids = PropertyTests.ids(events)
        let reference = PropertyTests.dump(PJ.fold(events), ids: ids)
        var viaViews = Projector()
        try ViewFoldTests.foldViews(events, into: &viaViews)
        viaViews.resolveSplits(from: events)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(viaViews, ids: ids), reference) == nil)
        // Mixed: half by bytes, half decoded, then a snapshot round trip.
        var mixed = Projector()
        let cut = events.count / 2
        try ViewFoldTests.foldViews(Array(events[..<cut]), into: &mixed)
        mixed.resolveSplits(from: events[..<cut])
        var restored = try Projector(deserializing: mixed.serialize())
        for e in events[cut...] { restored.apply(e) }
        restored.resolveSplits(from: events)
        #expect(PropertyTests.firstDifference(PropertyTests.dump(restored, ids: ids), reference) == nil)
    }

    @Test func invalidUTF8IsRejectedAndChangesNothing() throws {
        var p = Projector()
        p.apply(PJ.ev("a", .webVisit, "x", PJ.t0))
        let before = PropertyTests.dump(p, ids: ["x", "zé"])
        for field in ["subject", "source", "attr"] {
            var e = PJ.ev("b", .webVisit, "x", PJ.t0 + 1)
            switch field {
            case "subject": e.subject = "zé"
            case "source": e.source = "zé"
            default: e.attrs = [.init(key: "k", value: "zé")]
            }
            var bytes = try EventRecord.encode(e)
            // "é" is C3 A9: replace the continuation byte so the sequence is invalid.
            let i = try #require(bytes.firstIndex(of: 0xC3))
            #expect(bytes[i + 1] == 0xA9)
            bytes[i + 1] = 0x41
            #expect(throws: EventRecord.DecodeError.self) { try EventRecord.decode(bytes) }
            #expect(throws: EventRecord.DecodeError.self) {
                try bytes.withUnsafeBytes { raw in try p.apply(try EventView(validating: raw)) }
            }
        }
        #expect(p.eventCount == 1)
        #expect(PropertyTests.dump(p, ids: ["x", "zé"]) == before)
    }
}
