/// Why a projection snapshot could not be loaded.
package struct SnapshotError: Error, Sendable, Hashable, CustomStringConvertible {
    package var description: String
}

/// Writer for the snapshot format: LEB128 varints, zigzag for signed values.
private struct SnapshotWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func fixed32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func varint(_ v: UInt64) {
        var x = v
        while x >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: x) | 0x80)
            x >>= 7
        }
        bytes.append(UInt8(x))
    }
    mutating func varint(_ v: UInt32) { varint(UInt64(v)) }
    mutating func varint(_ v: Int) { varint(UInt64(v)) }
    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    mutating func string(_ s: String) {
        let u = s.utf8
        varint(u.count)
        bytes.append(contentsOf: u)
    }
}

/// Bounds-checked reader for the snapshot format.
private struct SnapshotReader {
    let bytes: [UInt8]
    var pos = 0

    func truncated() -> SnapshotError { SnapshotError(description: "snapshot truncated at byte \(pos)") }

    mutating func take(_ n: Int) throws(SnapshotError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - pos >= n else { throw truncated() }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }
    mutating func u8() throws(SnapshotError) -> UInt8 {
        guard pos < bytes.count else { throw truncated() }
        defer { pos += 1 }
        return bytes[pos]
    }
    mutating func fixed32() throws(SnapshotError) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw truncated() }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[pos + i]) << (8 * UInt32(i)) }
        pos += 4
        return v
    }
    mutating func varint() throws(SnapshotError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw SnapshotError(description: "bad varint at byte \(pos)") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }
    mutating func u32() throws(SnapshotError) -> UInt32 {
        let v = try varint()
        guard v <= UInt32.max else { throw SnapshotError(description: "value out of range at byte \(pos)") }
        return UInt32(v)
    }
    mutating func zigzag() throws(SnapshotError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }
    /// A count of elements that each take at least one byte: rejects counts the data cannot hold.
    mutating func count() throws(SnapshotError) -> Int {
        let n = try varint()
        guard n <= UInt64(bytes.count - pos) else { throw SnapshotError(description: "bad count \(n) at byte \(pos)") }
        return Int(n)
    }
    mutating func string() throws(SnapshotError) -> String {
        let n = try count()
        return String(decoding: try take(n), as: UTF8.self)
    }
}

extension Projector {
    /// The version of the snapshot format written by `serialize()`.
    /// (5: fact records of types from 15 on, `unlink` and `consent`, carry a type byte; links
    /// withdrawn by unlinks are re-derived from the unlink records on load. 6: facts may carry
    /// attrs (the handoff context), the point-in-time
    /// state's records too, so a snapshot of either earlier version 5 is rebuilt.)
    package static let formatVersion: UInt32 = 6
    private static let magic: [UInt8] = Array("JPRJ".utf8)

    /// A versioned binary snapshot of the whole state, for checkpoints.
    ///
    /// Only the primary state is stored (strings, and per cluster its ids and its records as
    /// kept in memory, see `FactRecord`); derived caches (canonical ids, referral index) are
    /// rebuilt on load, so they cannot disagree with it.
    package func serialize() -> [UInt8] {
        assert(pendingSplits.isEmpty, "a snapshot before the pending splits were resolved")
        var w = SnapshotWriter()
        w.bytes.reserveCapacity(64 + eventCount * 24)
        w.bytes.append(contentsOf: Projector.magic)
        w.fixed32(Projector.formatVersion)
        w.varint(eventCount)
        w.varint(ids.count)
        for s in ids.realStrings { w.string(s) }
        w.varint(values.count)
        for s in values.realStrings { w.string(s) }
        w.varint(clusterCount)
        for root in roots {
            let c = clusters[Int(root)]
            w.varint(Int(c.memberCount))
            forEachMember(of: c) { w.varint($0) }
            w.varint(c.log.count)
            c.log.withUnsafeBytes { w.bytes.append(contentsOf: $0) }
        }
        return w.bytes
    }

    /// Loads a snapshot written by `serialize()`, checking every record.
    package init(deserializing bytes: [UInt8]) throws(SnapshotError) {
        var r = SnapshotReader(bytes: bytes)
        guard Array(try r.take(4)) == Projector.magic else {
            throw SnapshotError(description: "not a projection snapshot")
        }
        let version = try r.fixed32()
        guard version == Projector.formatVersion else {
            throw SnapshotError(description: "snapshot format \(version), expected \(Projector.formatVersion)")
        }
        self.init()
        // Checked against the events stored below: `serialize()` sizes its buffer by it.
        let storedEventCount = try r.varint()
        var eventTotal = 0
        var idStrings: [String] = []
        for _ in 0..<(try r.count()) { idStrings.append(try r.string()) }
        var valueStrings: [String] = []
        for _ in 0..<(try r.count()) { valueStrings.append(try r.string()) }
        ids = Interner(strings: idStrings, reservingZero: false)
        values = Interner(strings: valueStrings, reservingZero: true)
        guard ids.distinctCount == idStrings.count, values.distinctCount == valueStrings.count else {
            throw SnapshotError(description: "duplicate strings in snapshot")
        }
        let idCount = UInt32(idStrings.count)
        let limits = FactRecord.Limits(ids: idCount, values: UInt32(valueStrings.count))
        clusterOf = [UInt32](repeating: .max, count: idStrings.count)
        nextMember = [UInt32](repeating: .max, count: idStrings.count)
        let rootCount = try r.count()
        clusters.reserveCapacity(rootCount)
        var sawUnlink = false
        for slot in 0..<UInt32(rootCount) {
            var c = Cluster()
            let memberCount = try r.count()
            guard memberCount > 0 else { throw SnapshotError(description: "a cluster without ids") }
            var previous = Fact.none
            for _ in 0..<memberCount {
                let m = try r.u32()
                guard m < idCount, clusterOf[Int(m)] == .max else { throw SnapshotError(description: "bad member \(m)") }
                clusterOf[Int(m)] = slot
                if previous == Fact.none { c.head = m } else { nextMember[Int(previous)] = m }
                previous = m
            }
            nextMember[Int(previous)] = c.head
            c.memberCount = UInt32(memberCount)
            let logLength = try r.count()
            c.log = ByteLog(Array(try r.take(logLength)))
            var records = 0
            var identified: [UInt32] = []
            let problem: String? = c.log.withUnsafeBytes { b in
                guard !b.isEmpty else { return nil }
                guard let (base, recordsStart) = FactRecord.checkedBase(b), recordsStart < b.count else {
                    return "bad base id or no events in a cluster's records"
                }
                var checks = limits
                checks.baseLength = base.count
                var pos = recordsStart
                var at: Int64 = 0
                var previousID: FactRecord.SplitID?
                while pos < b.count {
                    guard let d = FactRecord.decode(b, at: pos, previousAt: at, limits: checks) else {
                        return "bad event record at byte \(pos) of a cluster"
                    }
                    // Records are stored in one form only (a fold writes minimal varints), so
                    // that the same events give the same bytes.
                    guard d.bodyStart - pos == FactRecord.varintSize(FactRecord.zigzag(d.fact.at &- at)) else {
                        return "an overlong time delta at byte \(pos) of a cluster"
                    }
                    let id = d.id(in: b, base: base)
                    if let previousID, FactRecord.less(d.fact.at, id, at, previousID) {
                        return "events out of timeline order in a cluster"
                    }
                    if d.fact.type == .identify, d.fact.other != Fact.none { identified.append(d.fact.subject) }
                    if d.fact.type == .unlink { sawUnlink = true }
                    c.types |= 1 &<< UInt32(d.fact.type.rawValue & 31)
                    c.lastStart = UInt32(pos)
                    c.lastAt = d.fact.at
                    at = d.fact.at
                    previousID = id
                    pos = d.end
                    records += 1
                }
                return nil
            }
            if let problem { throw SnapshotError(description: problem) }
            for s in identified { markIdentifiedSubject(s) }
            eventTotal += records
            clusters.append(c)
            clusters[Int(slot)].canonical = canonical(of: c)
        }
        guard !clusterOf.contains(.max) else { throw SnapshotError(description: "an id belongs to no cluster") }
        guard r.pos == bytes.count else { throw SnapshotError(description: "trailing bytes in snapshot") }
        guard storedEventCount == UInt64(eventTotal) else {
            throw SnapshotError(description: "event count \(storedEventCount) but \(eventTotal) events in snapshot")
        }
        eventCount = eventTotal
        clusterCount = rootCount
        // With unlinks, some identifies do not link: their subjects are not aliases.
        if sawUnlink { rederiveLinks() }
        for root in roots { rebuildReferrer(root) }
    }
}
