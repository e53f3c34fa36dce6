/// A memo of `Interner` ids for strings of at most 16 bytes, found by their bytes alone.
///
/// A string that short is identified by its length and two overlapping 8-byte loads (or,
/// shorter still, a few bytes), which an entry keeps: a hit compares two words and a length,
/// without reading the interner's hash slots, offsets or bytes. The replay's reader puts the
/// values of every event (sources, agents, locations and the like: few distinct, mostly short)
/// through it. It only remembers what the interner answered, so it cannot change an answer:
/// a miss, a longer string or a full cache goes to the interner.
struct ShortStringCache: Sendable {
    private struct Entry {
        var first: UInt64 = 0
        var last: UInt64 = 0
        /// 0 when empty, else the string's length (low 8 bits) and its id + 1 (above).
        var lengthAndID: UInt64 = 0
    }

    private static let capacity = 1024
    /// Entries kept at most, so that a probe ends within a few entries.
    private static let maxCount = capacity / 2

    private var entries = [Entry](repeating: Entry(), count: ShortStringCache.capacity)
    private(set) var count = 0

    init() {}

    /// The id `interner` gives `b`, from the memo when it holds `b`.
    @inline(__always)
    mutating func id(_ b: UnsafeRawBufferPointer, in interner: inout Interner) -> UInt32 {
        let n = b.count
        guard n <= 16 else { return interner.intern(b) }
        let (first, last) = ShortStringCache.key(b)
        let tag = UInt64(n)
        let start = Int(truncatingIfNeeded: ((first ^ (last &<< 1) ^ tag) &* 0x9E37_79B9_7F4A_7C15) >> 54)
        // Read-only probe (no uniqueness check on the array): the id + 1, or 0 and the free entry.
        let (found, free) = entries.withUnsafeBufferPointer { e -> (UInt64, Int) in
            var i = start
            while true {
                let x = e[i]
                if x.lengthAndID == 0 { return (0, i) }
                if x.lengthAndID & 0xFF == tag, x.first == first, x.last == last { return (x.lengthAndID >> 8, i) }
                i = (i + 1) & (ShortStringCache.capacity - 1)
            }
        }
        if found != 0 { return UInt32(truncatingIfNeeded: found - 1) }
        let id = interner.intern(b)
        if count < ShortStringCache.maxCount {
            entries[free] = Entry(first: first, last: last, lengthAndID: tag | (UInt64(id) + 1) << 8)
            count += 1
        }
        return id
    }

    /// Two words that, with the length, identify a string of at most 16 bytes: its first and
    /// last eight bytes (overlapping when shorter than 16), its first and last four, or, under
    /// four bytes, its first, middle and last byte; all inside the buffer.
    @inline(__always)
    static func key(_ b: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let n = b.count
        if n >= 8 {
            return (b.loadUnaligned(as: UInt64.self), b.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        if n >= 4 {
            return (UInt64(b.loadUnaligned(as: UInt32.self)), UInt64(b.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
        }
        if n > 0 { return (UInt64(b[0]) | UInt64(b[n >> 1]) << 8 | UInt64(b[n - 1]) << 16, 0) }
        return (0, 0)
    }
}
