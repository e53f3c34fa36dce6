import Glibc

package extension Array where Element == UInt8 {
    /// The index of the first `\n` at or after `start`, found with `memchr` (fast even in debug
    /// builds, where a generic `firstIndex(of:)` costs a call per byte).
    func firstNewline(from start: Int) -> Int? {
        guard start < count else { return nil }
        return withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress,
                let found = memchr(base + start, Int32(UInt8(ascii: "\n")), count - start)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }
}
