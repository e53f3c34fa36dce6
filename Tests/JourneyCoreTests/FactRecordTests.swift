import Testing
@testable import JourneyCore

@Suite("Fact records: event ids against a cluster's base id")
struct FactRecordTests {
    func shared(_ id: String, _ base: String) -> Int {
        Array(id.utf8).withUnsafeBytes { i in Array(base.utf8).withUnsafeBytes { b in FactRecord.sharedPrefix(i, b) } }
    }

    @Test func sharedPrefixIsTheLeadingCommonBytesUpToFifteen() {
        #expect(shared("e-1234567", "e-1234599") == 7)
        #expect(shared("e-12345678", "e-12345679") == 9)  // past the first eight bytes
        #expect(shared("e-1x345678", "e-12345678") == 3)  // inside the first eight bytes
        #expect(shared("abcdefgh", "abcdefgh") == 8)
        #expect(shared("abcdefghijklmno", "abcdefghijkZmno") == 11)  // in the last eight of fifteen
        #expect(shared("abcdefghijklmnopq", "abcdefghijklmnoZq") == 15)
        #expect(shared("abc", "abcdef") == 3)
        #expect(shared("", "abc") == 0)
        #expect(shared("xyz", "abc") == 0)
        #expect(shared("évt", "évu") == 3)  // é is two bytes
        #expect(shared("evt-2026-11-27-000001", "evt-2026-11-27-000002") == 15)  // 20 in common, capped
    }

    @Test func splitIdsOrderByWholeBytes() {
        func less(_ a: (String, Int, String), _ b: (String, Int, String)) -> Bool {
            Array(a.0.utf8).withUnsafeBytes { ab in Array(a.2.utf8).withUnsafeBytes { asx in
                Array(b.0.utf8).withUnsafeBytes { bb in Array(b.2.utf8).withUnsafeBytes { bsx in
                    FactRecord.SplitID(base: ab, shared: a.1, suffix: asx)
                        .precedes(FactRecord.SplitID(base: bb, shared: b.1, suffix: bsx))
                } }
            } }
        }
        // "e-12" + "5" = "e-125" against whole "e-13".
        #expect(less(("e-1234", 4, "5"), ("e-13", 0, "e-13")))
        #expect(!less(("e-13", 0, "e-13"), ("e-1234", 4, "5")))
        // Equal ids are not less, however split.
        #expect(!less(("abcdef", 3, "xy"), ("abq", 0, "abcxy")))
        #expect(!less(("abq", 0, "abcxy"), ("abcdef", 3, "xy")))
        // A prefix sorts first.
        #expect(less(("abcdef", 2, ""), ("abcdef", 3, "")))
        #expect(!less(("abcdef", 3, ""), ("abcdef", 2, "")))
        // Bytes, not characters: "Z" (0x5A) < "a" (0x61) < "é" (0xC3 0xA9).
        #expect(less(("xZ", 2, ""), ("xa", 2, "")))
        #expect(less(("x", 1, "a"), ("x", 1, "é")))
    }
}
