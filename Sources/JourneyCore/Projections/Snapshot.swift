/// Why a projection snapshot could not be loaded.
public struct SnapshotError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
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
    public static let formatVersion: UInt32 = 1
    private static let magic: [UInt8] = Array("JPRJ".utf8)
    private static let hasSchedule: UInt8 = 1
    private static let hasAmount: UInt8 = 2

    /// A versioned binary snapshot of the whole state, for checkpoints.
    ///
    /// Only the primary state is stored (strings, clusters and their facts, varint-coded with
    /// times as deltas along each cluster's timeline); derived caches (canonical ids, referral
    /// index) are rebuilt on load, so they cannot disagree with it.
    public func serialize() -> [UInt8] {
        var w = SnapshotWriter()
        w.bytes.reserveCapacity(64 + eventCount * 32)
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
            w.varint(root)
            w.varint(c.members.count)
            for m in c.members { w.varint(m) }
            w.varint(c.facts.count)
            var previous: Int64 = 0
            for f in c.facts {
                w.zigzag(f.at &- previous)
                previous = f.at
                w.string(f.id)
                w.u8(f.type.rawValue)
                w.u8(f.channel)
                w.u8(f.flags)
                w.u8(f.status)
                w.varint(f.subject)
                w.varint(f.other &+ 1)  // Fact.none (max) becomes 0
                w.varint(f.source); w.varint(f.medium); w.varint(f.campaign); w.varint(f.term)
                w.varint(f.agent); w.varint(f.conversation); w.varint(f.concern); w.varint(f.message)
                w.varint(f.appointment); w.varint(f.location); w.varint(f.provider)
                let presence = (f.scheduledFor != Fact.noTime ? Projector.hasSchedule : 0)
                    | (f.amountCents != 0 ? Projector.hasAmount : 0)
                w.u8(presence)
                if f.scheduledFor != Fact.noTime { w.zigzag(f.scheduledFor &- f.at) }
                if f.amountCents != 0 { w.zigzag(f.amountCents) }
            }
        }
        return w.bytes
    }

    /// Loads a snapshot written by `serialize()`.
    public init(deserializing bytes: [UInt8]) throws(SnapshotError) {
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
        var factTotal = 0
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
        let valueLimit = UInt32(valueStrings.count)
        clusterOf = [UInt32](repeating: .max, count: idStrings.count)
        clusters = [Cluster](repeating: Cluster(), count: idStrings.count)
        let rootCount = try r.count()
        for _ in 0..<rootCount {
            let root = try r.u32()
            guard root < idCount, clusterOf[Int(root)] == .max else {
                throw SnapshotError(description: "bad cluster root \(root)")
            }
            var c = Cluster()
            for _ in 0..<(try r.count()) {
                let m = try r.u32()
                guard m < idCount, clusterOf[Int(m)] == .max else { throw SnapshotError(description: "bad member \(m)") }
                clusterOf[Int(m)] = root
                c.members.append(m)
            }
            guard c.members.contains(root) else { throw SnapshotError(description: "root \(root) not a member") }
            let factCount = try r.count()
            factTotal += factCount
            c.facts.reserveCapacity(factCount)
            var previous: Int64 = 0
            for _ in 0..<factCount {
                let at = previous &+ (try r.zigzag())
                previous = at
                let id = try r.string()
                guard let type = EventType(rawValue: try r.u8()) else { throw SnapshotError(description: "bad event type") }
                let channel = try r.u8(), flags = try r.u8(), status = try r.u8()
                guard channel == Fact.noChannel || Channel(rawValue: channel) != nil else {
                    throw SnapshotError(description: "bad channel in event \(id)")
                }
                let subject = try r.u32(), other = (try r.u32()) &- 1
                guard subject < idCount, other == Fact.none || other < idCount else {
                    throw SnapshotError(description: "bad id reference in event \(id)")
                }
                func value() throws(SnapshotError) -> UInt32 {
                    let v = try r.u32()
                    guard v <= valueLimit else { throw SnapshotError(description: "bad string reference in event \(id)") }
                    return v
                }
                var fact = Fact(
                    at: at, id: id, type: type, channel: channel, flags: flags, status: status,
                    subject: subject, other: other,
                    source: try value(), medium: try value(), campaign: try value(), term: try value(),
                    agent: try value(), conversation: try value(), concern: try value(), message: try value(),
                    appointment: try value(), location: try value(), provider: try value(),
                    scheduledFor: Fact.noTime, amountCents: 0)
                let presence = try r.u8()
                if presence & Projector.hasSchedule != 0 { fact.scheduledFor = at &+ (try r.zigzag()) }
                if presence & Projector.hasAmount != 0 { fact.amountCents = try r.zigzag() }
                if let last = c.facts.last, Fact.less(fact, last) {
                    throw SnapshotError(description: "events out of timeline order at \(id)")
                }
                c.facts.append(fact)
            }
            c.canonical = Projector.canonical(of: c)
            clusters[Int(root)] = c
        }
        guard !clusterOf.contains(.max) else { throw SnapshotError(description: "an id belongs to no cluster") }
        guard r.pos == bytes.count else { throw SnapshotError(description: "trailing bytes in snapshot") }
        guard storedEventCount == UInt64(factTotal) else {
            throw SnapshotError(description: "event count \(storedEventCount) but \(factTotal) events in snapshot")
        }
        eventCount = factTotal
        clusterCount = rootCount
        for root in roots { rebuildReferrer(root) }
    }
}
