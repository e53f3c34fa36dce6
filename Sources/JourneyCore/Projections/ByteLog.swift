import CPrefetch

/// A growable byte buffer with value semantics (copy on write), for the many small cluster logs
///
/// It does what `[UInt8]` does for a log at less cost: a 32-bit count and capacity (an 8-byte
/// header after the object header, where an array keeps 16) and appends that are one capacity
/// check and one copy. An empty log allocates nothing. It holds at most 4 GiB.
struct ByteLog: @unchecked Sendable {
    // Sendable: the storage is written only while uniquely referenced (copied first otherwise),
    // so a value shared between threads is never written, as with `Array`.

    struct Header {
        var count: UInt32
        var capacity: UInt32
    }

    private typealias Storage = ManagedBuffer<Header, UInt8>

    private var storage: Storage?

    /// Bytes an allocation spends before the log's bytes: the object header and `Header`.
    static let overhead = 24

    /// Where the bytes start, from the storage object's address: after the object header (the
    /// metadata pointer and the reference counts, a word each) and `Header`. A constant, not a
    /// lazily measured one, because the fold reads it for every event (the tests check it
    /// against a log's real addresses).
    static var elementsOffset: Int { 2 * MemoryLayout<Int>.size + MemoryLayout<Header>.size }

    /// Hints the CPU to start loading the header of the log stored at `log` and its cache line
    /// at byte `offset` (see `journey_prefetch`). The storage reference is read as plain bits,
    /// not retained: retaining would write its object's header, the very line being fetched.
    @inline(__always)
    static func prefetch(_ log: UnsafeRawPointer, at offset: Int) {
        // A `ByteLog` is its optional storage reference: one pointer, zero when empty (checked
        // by the tests: `MemoryLayout<ByteLog>.size` is a pointer's).
        guard let object = UnsafeRawPointer(bitPattern: log.load(as: UInt.self)) else { return }
        journey_prefetch(object)
        journey_prefetch(object + elementsOffset + offset)
    }

    init() {}

    /// A log holding a copy of `bytes`, with no spare capacity beyond the allocator's rounding.
    init(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let s = ByteLog.allocate(capacity: bytes.count)
        s.withUnsafeMutablePointers { h, e in
            UnsafeMutableRawPointer(e).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            h.pointee.count = UInt32(bytes.count)
        }
        storage = s
    }

    init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { ByteLog($0) }
    }

    // (The header is read through its pointer: `ManagedBuffer.header` is a class property,
    // checked for exclusive access at run time on every use.)
    var count: Int { storage.map { $0.withUnsafeMutablePointerToHeader { Int($0.pointee.count) } } ?? 0 }
    var capacity: Int { storage.map { $0.withUnsafeMutablePointerToHeader { Int($0.pointee.capacity) } } ?? 0 }
    var isEmpty: Bool { count == 0 }

    /// Calls `body` with the bytes.
    @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let storage else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let n = storage.withUnsafeMutablePointerToHeader { Int($0.pointee.count) }
        return storage.withUnsafeMutablePointerToElements { body(UnsafeRawBufferPointer(start: $0, count: n)) }
    }

    /// A new storage for at least `capacity` bytes (the allocator's rounding is used too), empty.
    private static func allocate(capacity: Int) -> Storage {
        precondition(capacity <= Int(UInt32.max), "a byte log over 4 GiB")
        let s = Storage.create(minimumCapacity: capacity) { _ in Header(count: 0, capacity: 0) }
        // `capacity` asks the allocator for the usable size: once per allocation.
        let usable = UInt32(Swift.min(s.capacity, Int(UInt32.max)))
        s.withUnsafeMutablePointerToHeader { $0.pointee.capacity = usable }
        return s
    }

    /// Copies the bytes to a new storage of at least `capacity` (and at least the count) bytes.
    private mutating func reallocate(capacity: Int) {
        let n = count
        let s = ByteLog.allocate(capacity: Swift.max(capacity, n))
        if let old = storage {
            old.withUnsafeMutablePointers { _, from in
                s.withUnsafeMutablePointers { h, to in
                    to.update(from: from, count: n)
                    h.pointee.count = UInt32(n)
                }
            }
        }
        storage = s
    }

    /// The capacity of a log's first allocation: a few records rather than one.
    static let firstCapacity = 48

    /// The capacity from which a log grows by half rather than doubling.
    static let halfGrowthFrom = 192

    /// Appends bytes, growing the capacity when they do not fit (see `growAndAppend`), and
    /// answers the offset they start at (the count before).
    @inline(__always) @discardableResult
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard bytes.count > 0 else { return count }
        if storage != nil, isKnownUniquelyReferenced(&storage!) {
            let offset = storage.unsafelyUnwrapped.withUnsafeMutablePointers { h, e -> Int in
                let n = Int(h.pointee.count)
                guard Int(h.pointee.capacity) - n >= bytes.count else { return -1 }
                (UnsafeMutableRawPointer(e) + n).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                h.pointee.count = UInt32(n + bytes.count)
                return n
            }
            if offset >= 0 { return offset }
        }
        return growAndAppend(bytes)
    }

    /// Appends to a new storage: twice the capacity for small logs (at least `firstCapacity`),
    /// half as much again from `halfGrowthFrom` bytes on (most logs are small: doubling spares
    /// them reallocations, and the large ones keep less slack), or the same capacity for a
    /// unique copy of a shared log the bytes fit in.
    private mutating func growAndAppend(_ bytes: UnsafeRawBufferPointer) -> Int {
        let (n, capacity) = storage.map { s in
            s.withUnsafeMutablePointerToHeader { (Int($0.pointee.count), Int($0.pointee.capacity)) }
        } ?? (0, 0)
        let needed = n + bytes.count
        precondition(needed <= Int(UInt32.max), "a byte log over 4 GiB")
        let s = ByteLog.allocate(capacity: needed <= capacity ? capacity
            : Swift.min(Swift.max(needed, capacity < ByteLog.halfGrowthFrom ? 2 * capacity : capacity + capacity / 2, ByteLog.firstCapacity), Int(UInt32.max)))
        s.withUnsafeMutablePointers { h, e in
            let to = UnsafeMutableRawPointer(e)
            if let old = storage { old.withUnsafeMutablePointerToElements { to.copyMemory(from: $0, byteCount: n) } }
            (to + n).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            h.pointee.count = UInt32(needed)
        }
        storage = s
        return n
    }

    /// Replaces the bytes in `range` with `bytes`, moving the bytes after it.
    mutating func replaceSubrange(_ range: Range<Int>, with bytes: UnsafeRawBufferPointer) {
        let n = count
        precondition(range.lowerBound >= 0 && range.upperBound <= n, "range out of the log")
        let newCount = n - range.count + bytes.count
        if storage == nil || newCount > capacity || !isKnownUniquelyReferenced(&storage!) {
            precondition(newCount <= Int(UInt32.max), "a byte log over 4 GiB")
            reallocate(capacity: newCount > capacity ? Swift.min(Swift.max(newCount, 2 * capacity), Int(UInt32.max)) : capacity)
        }
        guard newCount > 0 else { return }
        storage!.withUnsafeMutablePointers { h, e in
            let base = UnsafeMutableRawPointer(e)
            // The tail first (the ranges may overlap), then the new bytes.
            (base + range.lowerBound + bytes.count).copyMemory(from: base + range.upperBound, byteCount: n - range.upperBound)
            if bytes.count > 0 { (base + range.lowerBound).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            h.pointee.count = UInt32(newCount)
        }
    }
}
