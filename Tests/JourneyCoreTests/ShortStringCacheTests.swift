import Testing
@testable import JourneyCore

@Suite("Short-string memo of interner ids")
struct ShortStringCacheTests {
    /// Strings built to collide on everything but one byte: shared prefixes and suffixes, every
    /// length from 0 to 24 (the memo keys strings up to 16 bytes, longer ones go straight through).
    static func strings() -> [[UInt8]] {
        var out: [[UInt8]] = []
        for n in 0...24 {
            for k in 0..<40 {
                var s = [UInt8](repeating: UInt8(ascii: "a"), count: n)
                if n > 0 { s[k % n] = UInt8(ascii: "b") &+ UInt8(k / max(n, 1)) }
                out.append(s)
            }
        }
        return out
    }

    @Test func answersExactlyWhatTheInternerAnswers() {
        let all = ShortStringCacheTests.strings()
        var cached = Interner(reservingZero: true), plain = Interner(reservingZero: true)
        var cache = ShortStringCache()
        // Twice through, in two orders: first meetings and memo hits.
        for round in 0..<3 {
            let order = round == 1 ? Array(all.indices.reversed()) : Array(all.indices)
            for i in order {
                let viaCache = all[i].withUnsafeBytes { cache.id($0, in: &cached) }
                let direct = all[i].withUnsafeBytes { plain.intern($0) }
                #expect(viaCache == direct, "string \(i) (\(all[i].count) bytes), round \(round)")
            }
        }
        #expect(cached.count == plain.count)
        #expect(cache.count > 0)
    }

    @Test func aFullMemoStillAnswersThroughTheInterner() {
        var cached = Interner(reservingZero: true), plain = Interner(reservingZero: true)
        var cache = ShortStringCache()
        // More distinct short strings than the memo keeps.
        let many = (0..<3000).map { Array("v\($0)".utf8) }
        for round in 0..<2 {
            for (i, s) in many.enumerated() {
                let a = s.withUnsafeBytes { cache.id($0, in: &cached) }
                let b = s.withUnsafeBytes { plain.intern($0) }
                #expect(a == b, "string \(i), round \(round)")
            }
        }
        #expect(cache.count == 512)
    }

    @Test func keysCoverEveryByteOfShortStrings() {
        // Two strings of the same length up to 16 bytes that differ anywhere differ in their key.
        for n in 1...16 {
            for at in 0..<n {
                let a = [UInt8](repeating: 7, count: n)
                var b = a
                b[at] = 8
                let ka = a.withUnsafeBytes { ShortStringCache.key($0) }, kb = b.withUnsafeBytes { ShortStringCache.key($0) }
                #expect(ka != kb, "length \(n), byte \(at)")
            }
        }
    }
}
