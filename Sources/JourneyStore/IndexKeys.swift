import Glibc

/// The first 16 bytes of an index key as two numbers, zero-padded, the first byte the most
/// significant: keys whose prefixes differ order as these pairs do, so the sorts of index keys
/// read key bytes only for keys longer than 16 bytes that share all 16.
struct KeyPrefix: Equatable {
    var high: UInt64
    var low: UInt64

    @inline(__always)
    init(_ key: UnsafeRawBufferPointer) {
        high = KeyPrefix.word(key, from: 0)
        low = key.count > 8 ? KeyPrefix.word(key, from: 8) : 0
    }

    /// Bytes `from..<from + 8` of `key` (zero past its end) as a big-endian number.
    @inline(__always)
    private static func word(_ key: UnsafeRawBufferPointer, from: Int) -> UInt64 {
        // Eight bytes there: one load, the first byte made the most significant.
        if key.count - from >= 8 { return UInt64(bigEndian: key.loadUnaligned(fromByteOffset: from, as: UInt64.self)) }
        var w: UInt64 = 0
        for k in from..<from + 8 { w = w << 8 | UInt64(k < key.count ? key[k] : 0) }
        return w
    }
}

/// LMDB's default order of two keys held in `all` (by bytes, then the shorter first), given
/// their prefixes: negative, zero or positive.
@inline(__always)
func compareKeys(_ all: UnsafeRawBufferPointer, _ aPrefix: KeyPrefix, _ aStart: Int, _ aCount: Int,
                         _ bPrefix: KeyPrefix, _ bStart: Int, _ bCount: Int) -> Int32 {
    if aPrefix.high != bPrefix.high { return aPrefix.high < bPrefix.high ? -1 : 1 }
    if aPrefix.low != bPrefix.low { return aPrefix.low < bPrefix.low ? -1 : 1 }
    // Equal prefixes: keys of at most 16 bytes are equal up to the shorter one's length.
    let n = Swift.min(aCount, bCount)
    let c = n <= 16 ? 0 : memcmp(all.baseAddress! + aStart + 16, all.baseAddress! + bStart + 16, n - 16)
    return c != 0 ? c : (aCount == bCount ? 0 : (aCount < bCount ? -1 : 1))
}
