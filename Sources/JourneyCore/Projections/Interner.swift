import CPrefetch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A string table mapping each distinct byte string to a dense `UInt32`, so the hot path compares
/// and stores small integers instead of strings.
///
/// Strings are kept as UTF-8 bytes, back to back in one arena, and found through an
/// open-addressing hash table over those bytes: interning a string already present reads its
/// bytes once and allocates nothing. A slot holds an id + 1 in its low bits and, in the bits the
/// ids do not need yet, the top bits of the string's hash, so a probe compares bytes only when
/// those agree. Callers hand in valid UTF-8 (`Projector` checks record bytes before interning them).
struct Interner: Sendable {
    /// Every string's bytes, in id order.
    private var arena: [UInt8] = []
    /// End offset in `arena` of each string; string `i` starts where `i - 1` ends.
    private var ends: [UInt32] = []
    /// Hash slots: 0 is empty, else hash bits (under `tagMask`) and the string id + 1. Linear
    /// probing from the hash's low bits; the count is a power of two, at least 4/3 of the ids.
    private var slots: [UInt32] = []
    /// The slot bits that hold hash bits: all but the low log2(slot count) + 1, which fit any id + 1.
    private var tagMask: UInt32 = 0
    /// When true, index 0 is reserved to mean "absent" and real strings start at 1.
    private let reservesZero: Bool

    init(reservingZero: Bool) {
        reservesZero = reservingZero
        if reservingZero { ends.append(0) }
        slots = [UInt32](repeating: 0, count: 16)
        tagMask = Interner.tagMask(slotCount: 16)
    }

    /// Rebuilds a table from its strings in id order (snapshot loading). Duplicates keep their
    /// first id; `distinctCount` shows them.
    init(strings all: [String], reservingZero: Bool) {
        self.init(reservingZero: reservingZero)
        for s in all { appendUnchecked(s) }
    }

    /// The number of real strings interned.
    var count: Int { ends.count - (reservesZero ? 1 : 0) }

    /// The number of distinct strings indexed (equals `count` unless a load had duplicates).
    private(set) var distinctCount = 0

    /// Total bytes held (arena, offsets and hash slots), for memory accounting.
    var byteFootprint: Int { arena.capacity + 4 * ends.capacity + 4 * slots.capacity }

    static func tagMask(slotCount: Int) -> UInt32 {
        let idBits = UInt64(slotCount.trailingZeroBitCount + 1)
        return UInt32(truncatingIfNeeded: ~((UInt64(1) << idBits) &- 1))
    }

    // MARK: interning

    /// The id of the string with these UTF-8 bytes, adding it when new.
    @inline(__always)
    mutating func intern(_ b: UnsafeRawBufferPointer) -> UInt32 {
        intern(b, hash: Interner.hash(b))
    }

    /// The id of the string with these UTF-8 bytes, whose `Interner.hash` is `h`, adding it
    /// when new.
    @inline(__always)
    mutating func intern(_ b: UnsafeRawBufferPointer, hash h: UInt64) -> UInt32 {
        let (found, slot) = probe(b, hash: h)
        if found != Fact.none { return found }
        return add(b, hash: h, slot: slot)
    }

    private mutating func add(_ b: UnsafeRawBufferPointer, hash h: UInt64, slot: Int) -> UInt32 {
        let id = UInt32(ends.count)
        appendToArena(b)
        ends.append(UInt32(arena.count))
        slots[slot] = UInt32(truncatingIfNeeded: h >> 32) & tagMask | (id + 1)
        distinctCount += 1
        if ends.count * 4 > slots.count * 3 { grow() }
        return id
    }

    /// Appends bytes to the arena with one copy (a raw buffer would be appended byte by byte;
    /// any memory may be read as bytes).
    private mutating func appendToArena(_ b: UnsafeRawBufferPointer) {
        guard let start = b.baseAddress, b.count > 0 else { return }
        arena.append(contentsOf: UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: b.count))
    }

    /// The id of `b` if present (else `Fact.none`), and the slot where it is or belongs.
    @inline(__always)
    private func probe(_ b: UnsafeRawBufferPointer, hash h: UInt64) -> (UInt32, Int) {
        let tagMask = tagMask
        let tag = UInt32(truncatingIfNeeded: h >> 32) & tagMask
        return slots.withUnsafeBufferPointer { slots in
            ends.withUnsafeBufferPointer { ends in
                arena.withUnsafeBytes { arena in
                    // Unchecked reads: every id in a slot indexes `ends`, and every end is inside `arena`.
                    let slotBase = slots.baseAddress!
                    let mask = slots.count - 1
                    var i = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let s = slotBase[i]
                        if s == 0 { return (Fact.none, i) }
                        if s & tagMask == tag {
                            let id = Int(s & ~tagMask) - 1
                            let end = Int(ends.baseAddress![id])
                            let start = id == 0 ? 0 : Int(ends.baseAddress![id - 1])
                            if end - start == b.count
                                && (b.count == 0 || Interner.bytesEqual(UnsafeRawBufferPointer(start: arena.baseAddress! + start, count: b.count), b)) {
                                return (UInt32(id), i)
                            }
                        }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    /// The stages of `prefetch`, each run after the previous one's line has had time to arrive.
    enum PrefetchStage {
        /// The hash slot of the string.
        case slot
        /// The offsets of the string the slot names (the slot read).
        case entry
        /// The bytes of that string (the offsets read).
        case bytes
    }

    /// Hints the CPU to start loading what interning a string of hash `h` (`Interner.hash`)
    /// will read at `stage`, following the string's home slot only; a hint, nothing changes.
    @inline(__always)
    func prefetch(hash h: UInt64, _ stage: PrefetchStage) {
        slots.withUnsafeBufferPointer { slots in
            let i = Int(truncatingIfNeeded: h) & (slots.count - 1)
            if stage == .slot {
                journey_prefetch(slots.baseAddress! + i)
                return
            }
            let s = slots[i]
            guard s != 0, s & tagMask == UInt32(truncatingIfNeeded: h >> 32) & tagMask else { return }
            let id = Int(s & ~tagMask) - 1
            ends.withUnsafeBufferPointer { ends in
                if stage == .entry {
                    journey_prefetch(ends.baseAddress! + Swift.max(id - 1, 0))
                    return
                }
                let start = id == 0 ? 0 : Int(ends[id - 1])
                arena.withUnsafeBytes { a in if let base = a.baseAddress { journey_prefetch(base + start) } }
            }
        }
    }

    /// The id of `s`, adding it when new.
    mutating func intern(_ s: String) -> UInt32 {
        var s = s
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    /// The id of an optional string; 0 (absent) for nil. Only for tables that reserve zero.
    mutating func intern(_ s: String?) -> UInt32 {
        guard let s else { return 0 }
        return intern(s)
    }

    /// The id of `s` if it was interned.
    func lookup(_ s: String) -> UInt32? {
        var s = s
        return s.withUTF8 { u in find(UnsafeRawBufferPointer(u)) }
    }

    /// The id of these bytes if they were interned.
    func find(_ b: UnsafeRawBufferPointer) -> UInt32? {
        let id = probe(b, hash: Interner.hash(b)).0
        return id == Fact.none ? nil : id
    }

    /// Adds `s` as the next id even when present (snapshot loading; duplicates are detected by
    /// `distinctCount`).
    private mutating func appendUnchecked(_ s: String) {
        var s = s
        s.withUTF8 { u in
            let b = UnsafeRawBufferPointer(u)
            let h = Interner.hash(b)
            let (found, slot) = probe(b, hash: h)
            let id = UInt32(ends.count)
            appendToArena(b)
            ends.append(UInt32(arena.count))
            if found == Fact.none {
                slots[slot] = UInt32(truncatingIfNeeded: h >> 32) & tagMask | (id + 1)
                distinctCount += 1
            }
            // Duplicates take ids too: grow by ids, so every id + 1 fits below `tagMask`.
            if ends.count * 4 > slots.count * 3 { grow() }
        }
    }

    private func range(_ id: UInt32) -> Range<Int> {
        let i = Int(id)
        return (i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])
    }

    private func equals(_ id: UInt32, _ b: UnsafeRawBufferPointer) -> Bool {
        let r = range(id)
        guard r.count == b.count else { return false }
        if r.isEmpty { return true }
        return arena.withUnsafeBytes { a in Interner.bytesEqual(UnsafeRawBufferPointer(rebasing: a[r]), b) }
    }

    /// Equality of two byte strings of the same length, eight bytes at a time.
    @inline(__always)
    static func bytesEqual(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
        let n = x.count
        @inline(__always) func same<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> Bool {
            x.loadUnaligned(fromByteOffset: i, as: T.self) == y.loadUnaligned(fromByteOffset: i, as: T.self)
        }
        if n >= 8 {
            var i = 0
            while i + 8 < n {
                if !same(i, UInt64.self) { return false }
                i += 8
            }
            return same(n - 8, UInt64.self)  // the last eight bytes, overlapping when n is not a multiple
        }
        if n >= 4 { return same(0, UInt32.self) && same(n - 4, UInt32.self) }
        var i = 0
        while i < n {
            if x[i] != y[i] { return false }
            i += 1
        }
        return true
    }

    private mutating func grow() {
        var next = [UInt32](repeating: 0, count: slots.count * 2)
        let nextTagMask = Interner.tagMask(slotCount: next.count)
        let mask = next.count - 1
        @inline(__always) func place(_ id: UInt32, _ string: UnsafeRawBufferPointer) {
            let h = Interner.hash(string)
            var i = Int(truncatingIfNeeded: h) & mask
            while next[i] != 0 { i = (i + 1) & mask }
            next[i] = UInt32(truncatingIfNeeded: h >> 32) & nextTagMask | (id + 1)
        }
        let first: UInt32 = reservesZero ? 1 : 0
        if distinctCount == ends.count - Int(first) {
            // Every string is indexed: rehash them in id order, reading the arena and the
            // offsets front to back rather than in slot order, at random.
            ends.withUnsafeBufferPointer { ends in
                arena.withUnsafeBytes { a in
                    var start = first == 0 ? 0 : Int(ends[0])
                    for id in Int(first)..<ends.count {
                        let end = Int(ends[id])
                        place(UInt32(id), UnsafeRawBufferPointer(rebasing: a[start..<end]))
                        start = end
                    }
                }
            }
        } else {
            // Some ids are duplicates left unindexed by a load: rehash what the slots index.
            for old in slots where old != 0 {
                let id = old & ~tagMask
                arena.withUnsafeBytes { a in place(id - 1, UnsafeRawBufferPointer(rebasing: a[range(id - 1)])) }
            }
        }
        slots = next
        tagMask = nextTagMask
    }

    /// A fast 64-bit hash of a byte string: eight bytes at a time, short tails by overlapping
    /// loads that stay inside the buffer.
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        let n = b.count
        var h = UInt64(truncatingIfNeeded: n) &* k
        @inline(__always) func u64(_ i: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
        @inline(__always) func u32(_ i: Int) -> UInt64 { UInt64(b.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        if n >= 8 {
            var i = 0
            while i + 8 < n {
                h = (h ^ u64(i)) &* k
                h ^= h >> 32
                i += 8
            }
            h = (h ^ u64(n - 8)) &* k  // the last eight bytes, overlapping when n is not a multiple
        } else if n >= 4 {
            h = (h ^ (u32(0) << 32 | u32(n - 4))) &* k
        } else if n > 0 {
            let x = UInt64(b[0]) << 16 | UInt64(b[n >> 1]) << 8 | UInt64(b[n - 1])
            h = (h ^ x) &* k
        }
        h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }

    // MARK: reading

    subscript(_ i: UInt32) -> String {
        let r = range(i)
        return arena.withUnsafeBytes { a in String(decoding: a[r], as: UTF8.self) }
    }

    /// The byte length of string `i`.
    func length(_ i: UInt32) -> Int { range(i).count }

    /// Calls `body` with the bytes of string `i`.
    func withBytes<R>(_ i: UInt32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let r = range(i)
        return arena.withUnsafeBytes { a in body(UnsafeRawBufferPointer(rebasing: a[r])) }
    }

    /// Calls `body` with a reader of every string's bytes (valid only inside `body`): for
    /// comparing many strings without making a `String` of each.
    func withStrings<R>(_ body: (Strings) -> R) -> R {
        arena.withUnsafeBytes { a in ends.withUnsafeBufferPointer { e in body(Strings(arena: a, ends: e)) } }
    }

    /// The bytes of the strings of an `Interner`, by id (see `withStrings`).
    struct Strings {
        fileprivate let arena: UnsafeRawBufferPointer
        fileprivate let ends: UnsafeBufferPointer<UInt32>

        /// The bytes of string `i`.
        @inline(__always)
        subscript(_ i: UInt32) -> UnsafeRawBufferPointer {
            let i = Int(i)
            let start = i == 0 ? 0 : Int(ends[i - 1])
            return UnsafeRawBufferPointer(rebasing: arena[start..<Int(ends[i])])
        }
    }

    /// Byte-wise order of two strings (as `String.bytesLess`).
    @inline(__always)
    static func bytesLess(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let n = Swift.min(a.count, b.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return c < 0 }
        }
        return a.count < b.count
    }

    /// The string for an optional-value id: nil for 0 in a zero-reserving table.
    func optional(_ i: UInt32) -> String? {
        reservesZero && i == 0 ? nil : self[i]
    }

    /// The real strings in id order (without the reserved slot).
    var realStrings: [String] {
        let first: UInt32 = reservesZero ? 1 : 0
        return (first..<UInt32(ends.count)).map { self[$0] }
    }
}

extension String {
    /// Byte-wise (UTF-8) ordering, the order SPEC §3 uses for ids.
    @inlinable func bytesLess(_ other: String) -> Bool {
        utf8.lexicographicallyPrecedes(other.utf8)
    }
}
