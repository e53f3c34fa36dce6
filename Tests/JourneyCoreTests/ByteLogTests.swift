import Testing
@testable import JourneyCore

@Suite("Byte logs")
struct ByteLogTests {
    func bytes(_ log: ByteLog) -> [UInt8] { log.withUnsafeBytes { Array($0) } }

    func append(_ log: inout ByteLog, _ xs: [UInt8]) { _ = xs.withUnsafeBytes { log.append($0) } }

    func replace(_ log: inout ByteLog, _ range: Range<Int>, _ xs: [UInt8]) { xs.withUnsafeBytes { log.replaceSubrange(range, with: $0) } }

    @Test func emptyLogHoldsNothingAndAllocatesNothing() {
        let log = ByteLog()
        #expect(log.isEmpty && log.count == 0 && log.capacity == 0)
        #expect(bytes(log) == [])
        #expect(ByteLog([]).capacity == 0)
    }

    /// `ByteLog.prefetch` reads a log's bits without retaining it: they must be its storage's
    /// address (zero when empty), and its bytes must start `elementsOffset` after it.
    @Test func aLogIsOnePointerToItsStorage() {
        #expect(MemoryLayout<ByteLog>.size == MemoryLayout<UInt>.size)
        var log = ByteLog()
        withUnsafeBytes(of: &log) { #expect($0.load(as: UInt.self) == 0) }
        ByteLog.prefetch(withUnsafeBytes(of: &log) { $0.baseAddress! }, at: 0)  // empty: nothing to fetch
        append(&log, [1, 2, 3])
        let bits = withUnsafeBytes(of: &log) { $0.load(as: UInt.self) }
        let start = log.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
        #expect(bits != 0 && bits + UInt(ByteLog.elementsOffset) == start)
        withUnsafeBytes(of: &log) { ByteLog.prefetch($0.baseAddress!, at: 1 << 20) }  // a hint: any offset
        #expect(bytes(log) == [1, 2, 3])
        // The cluster's log field is where `Cluster.logOffset` says.
        var c = Cluster()
        c.log = log
        let fieldBits = withUnsafeBytes(of: &c) { $0.load(fromByteOffset: Cluster.logOffset, as: UInt.self) }
        #expect(fieldBits == bits)
    }

    @Test func appendsGrowFromTheFirstCapacityByDoubling() {
        var log = ByteLog()
        append(&log, [1, 2, 3])
        #expect(bytes(log) == [1, 2, 3])
        let first = log.capacity
        #expect(first >= ByteLog.firstCapacity)
        append(&log, [UInt8](repeating: 7, count: first - 3))
        #expect(log.capacity == first)  // filled exactly: no growth yet
        append(&log, [9])
        #expect(log.capacity >= 2 * first)
        #expect(log.count == first + 1)
        #expect(bytes(log) == [1, 2, 3] + [UInt8](repeating: 7, count: first - 3) + [9])
        // Large logs grow by half.
        var large = ByteLog([UInt8](repeating: 1, count: 1000))
        let full = large.capacity
        append(&large, [UInt8](repeating: 2, count: full - 1000 + 1))
        #expect(large.capacity >= full + full / 2 && large.capacity < 2 * full)
        #expect(bytes(large) == [UInt8](repeating: 1, count: 1000) + [UInt8](repeating: 2, count: full - 1000 + 1))
    }

    @Test func aCopyIsNotChangedByWritesToTheOriginal() {
        var a = ByteLog([1, 2, 3])
        let b = a
        append(&a, [4])
        #expect(bytes(a) == [1, 2, 3, 4])
        #expect(bytes(b) == [1, 2, 3])
        var c = a
        replace(&c, 1..<2, [8, 9])
        #expect(bytes(c) == [1, 8, 9, 3, 4])
        #expect(bytes(a) == [1, 2, 3, 4])
    }

    @Test func replaceSubrangeMovesTheTail() {
        var log = ByteLog([0, 1, 2, 3, 4, 5])
        replace(&log, 1..<3, [7])  // shorter
        #expect(bytes(log) == [0, 7, 3, 4, 5])
        replace(&log, 4..<4, [6, 6, 6])  // an insert
        #expect(bytes(log) == [0, 7, 3, 4, 6, 6, 6, 5])
        replace(&log, 0..<2, [])  // a removal
        #expect(bytes(log) == [3, 4, 6, 6, 6, 5])
        let long = [UInt8](repeating: 1, count: 200)  // past the capacity
        replace(&log, 6..<6, long)
        #expect(bytes(log) == [3, 4, 6, 6, 6, 5] + long)
    }
}
