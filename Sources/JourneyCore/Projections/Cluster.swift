/// One identity cluster: its events as a byte log of `FactRecord`s in timeline order.
///
/// Members are not stored here: the projector links each cluster's ids in a ring.
struct Cluster: Sendable {
    /// The records, in timeline order.
    var log = ByteLog()
    /// `at` of the last record (valid when `log` is not empty).
    var lastAt: Int64 = 0
    /// Byte offset of the last record in `log`.
    var lastStart: UInt32 = 0
    /// One member id (the ring of members starts here); `Fact.none` for a free slot.
    var head: UInt32 = Fact.none
    /// The number of member ids.
    var memberCount: UInt32 = 0
    /// Interned canonical id (SPEC §3.1), cached.
    var canonical: UInt32 = 0
    /// Interned `referrer` of the earliest referral, or `Fact.none`.
    var referrer: UInt32 = Fact.none
    /// One bit per `EventType` raw value among the records' types, so that a report can pass
    /// over a cluster without reading its log. (It fills the padding after `referrer`: the
    /// table's stride stays the same.)
    var types: UInt32 = 0

    /// Whether a record of any type in `mask` (bits by raw value) is in the log.
    @inline(__always) func hasAny(_ mask: UInt32) -> Bool { types & mask != 0 }

    var isRoot: Bool { memberCount > 0 }

    /// Where `log` lies in a `Cluster` (for `ByteLog.prefetch`).
    /// (`log` is the first stored property: a constant, checked by the tests, where a measured
    /// `static let` would cost a lazy-initialization check on every event.)
    static var logOffset: Int { 0 }

    /// Every fact, decoded, in timeline order.
    var facts: [Fact] {
        var out: [Fact] = []
        forEachFact { out.append($0) }
        return out
    }

    /// Replaces `out` with every fact, decoded, in timeline order (reusing its storage).
    func decodeFacts(into out: inout [Fact]) {
        out.removeAll(keepingCapacity: true)
        forEachFact { out.append($0) }
    }

    /// Replaces `out` with the facts at or before `asOf` (ms), decoded, in timeline order: the
    /// journey as it stood then (SPEC §3.2 point-in-time view), reusing `out`'s storage.
    func decodeFacts(into out: inout [Fact], asOf: Int64) {
        out.removeAll(keepingCapacity: true)
        forEachFact(upTo: asOf) { out.append($0) }
    }

    /// The facts at or before `asOf` (ms), decoded, in timeline order.
    func facts(asOf: Int64) -> [Fact] {
        var out: [Fact] = []
        forEachFact(upTo: asOf) { out.append($0) }
        return out
    }

    /// Calls `body` with each fact in timeline order.
    func forEachFact(_ body: (Fact) -> Void) {
        forEachFact(upTo: .max, body)
    }

    /// Calls `body` with each fact whose `at` is at most `asOf`, in timeline order: records are
    /// sorted by time, so the walk stops at the first later one.
    func forEachFact(upTo asOf: Int64, _ body: (Fact) -> Void) {
        log.withUnsafeBytes { b in
            var tokens = InlineTokens()
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                var d = FactRecord.decode(b, at: pos, previousAt: at)!
                if d.fact.at > asOf { return }
                tokens.settle(&d.fact, b)
                body(d.fact)
                at = d.fact.at
                pos = d.end
            }
        }
    }

    /// The inline string (conversation, message or appointment id) of a token in a fact this
    /// cluster's log gave, until the log next changes; nil for 0 (absent).
    func inlineString(_ token: UInt32) -> String? {
        guard token != 0 else { return nil }
        return log.withUnsafeBytes { b in String(decoding: FactRecord.inlineBytes(b, token: token), as: UTF8.self) }
    }

    /// Calls `body` with each fact of type `type`, in timeline order, skipping the other
    /// records after reading their header. (Its inline tokens are not settled: equal strings
    /// may have different tokens.)
    func forEachFact(ofType type: EventType, _ body: (Fact) -> Void) {
        forEachRecord(ofType: type) { d, _ in body(d.fact) }
    }

    /// `forEachFact(ofType:)` with each fact's event id (valid during the call only).
    func forEachFactAndID(ofType type: EventType, _ body: (Fact, FactRecord.SplitID) -> Void) {
        forEachRecord(ofType: type) { d, b in body(d.fact, d.id(in: b, base: FactRecord.base(b))) }
    }

    /// The number of records (events) in the log.
    var recordCount: Int {
        log.withUnsafeBytes { b in
            var n = 0
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                let d = FactRecord.skim(b, at: pos, previousAt: at)!
                at = d.at
                pos = d.end
                n += 1
            }
            return n
        }
    }

    /// Calls `body` with each decoded record of type `type` and the log's bytes, in timeline
    /// order, skipping the other records after reading their header.
    @inline(__always)
    private func forEachRecord(ofType type: EventType, _ body: (FactRecord.Decoded, UnsafeRawBufferPointer) -> Void) {
        log.withUnsafeBytes { b in
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                let start = pos
                let delta = FactRecord.readVarint(b, &pos)!
                let header = b[pos]
                // Types from `FactRecord.extendedType` on are told apart by the byte after the header.
                if header & 0x0F == FactRecord.typeBits(type.rawValue),
                   type.rawValue < FactRecord.extendedType || b[pos + 1] == type.rawValue {
                    let d = FactRecord.decode(b, at: start, previousAt: at)!
                    body(d, b)
                    at = d.fact.at
                    pos = d.end
                    continue
                }
                at = at &+ FactRecord.unzigzag(delta)
                FactRecord.skipBody(b, &pos, header: header)
            }
        }
    }

    /// Free bytes before a record body in the buffer handed to `insert`: room for the base id
    /// header of a new log (1 + 15 bytes) and the `at` delta (10).
    static let headroom = 26

    /// Free bytes `insert` needs after a record body, besides the id's length: the id varint.
    static let idRoom = 10

    /// Inserts a record, given its `at`, id bytes and body without its id (the bytes after the
    /// `at` delta up to the id, at `record[headroom..<bodyEnd]`; the headroom before it and the
    /// id's length plus `idRoom` bytes after it are scratch space), keeping timeline order; a
    /// record equal to one present goes after it. The usual late-arriving-last case is an
    /// append. Answers whether the record went last.
    @discardableResult
    mutating func insert(at: Int64, id: UnsafeRawBufferPointer, record: UnsafeMutableRawBufferPointer, bodyEnd: Int) -> Bool {
        // The id ends the body: the bytes it shares with the base id (an empty log takes its
        // first bytes as base), then the rest.
        let isEmpty = log.isEmpty
        let shared = isEmpty ? Swift.min(id.count, FactRecord.maxShared)
            : log.withUnsafeBytes { b in FactRecord.sharedPrefix(id, FactRecord.base(b)) }
        let suffix = id.count - shared
        var end = bodyEnd
        var code = UInt64(suffix) << 4 | UInt64(shared)
        while code >= 0x80 {
            record[end] = UInt8(truncatingIfNeeded: code) | 0x80
            code >>= 7
            end += 1
        }
        record[end] = UInt8(code)
        end += 1
        if suffix > 0 { (record.baseAddress! + end).copyMemory(from: id.baseAddress! + shared, byteCount: suffix) }
        end += suffix
        if isEmpty || at > lastAt || (at == lastAt && !lastIdGreater(than: id)) {
            let delta = FactRecord.zigzag(isEmpty ? at : at &- lastAt)
            // Write the delta varint just before the body (and a new log's base id header
            // before it), then append all at once.
            let size = FactRecord.varintSize(delta)
            var p = Cluster.headroom - size
            var x = delta
            while x >= 0x80 {
                record[p] = UInt8(truncatingIfNeeded: x) | 0x80
                x >>= 7
                p += 1
            }
            record[p] = UInt8(x)
            var first = Cluster.headroom - size
            if isEmpty {
                // `shared` is the base's length here, under 16: a one-byte varint.
                first -= 1 + shared
                record[first] = UInt8(shared)
                if shared > 0 { (record.baseAddress! + first + 1).copyMemory(from: id.baseAddress!, byteCount: shared) }
            }
            let count = end - first
            let offset = log.append(UnsafeRawBufferPointer(start: record.baseAddress! + first, count: count))
            lastStart = UInt32(offset + (Cluster.headroom - size - first))
            lastAt = at
            return true
        }
        let body = UnsafeRawBufferPointer(start: record.baseAddress! + Cluster.headroom, count: end - Cluster.headroom)
        // Find the first record that sorts after the new one.
        var (pos, previousAt, successorAt) = (0, Int64(0), Int64(0))
        var found = false
        log.withUnsafeBytes { b in
            let base = FactRecord.base(b), recordsStart = FactRecord.recordsStart(b)
            let newID = FactRecord.SplitID(id)
            pos = recordsStart
            while pos < b.count {
                let d = FactRecord.skim(b, at: pos, previousAt: previousAt)!
                if at < d.at || (at == d.at && newID.precedes(FactRecord.id(b, base: base, idCode: d.idCode, suffixStart: d.suffixStart))) {
                    successorAt = d.at
                    found = true
                    return
                }
                previousAt = d.at
                pos = d.end
            }
        }
        precondition(found, "a record sorting before the last one has a successor")
        // New record, then the successor's `at` delta re-based on the new record.
        var splice: [UInt8] = []
        splice.reserveCapacity(body.count + 12)
        // The successor's delta as stored (measured, not assumed minimal).
        let oldDeltaLength = log.withUnsafeBytes { b in
            var q = pos
            _ = FactRecord.readVarint(b, &q)
            return q - pos
        }
        FactRecord.appendVarint(FactRecord.zigzag(at &- previousAt), to: &splice)
        splice.append(contentsOf: body)
        let recordLength = splice.count
        FactRecord.appendVarint(FactRecord.zigzag(successorAt &- at), to: &splice)
        splice.withUnsafeBytes { log.replaceSubrange(pos..<(pos + oldDeltaLength), with: $0) }
        if Int(lastStart) == pos {
            lastStart = UInt32(pos + recordLength)
        } else {
            lastStart = UInt32(Int(lastStart) + splice.count - oldDeltaLength)
        }
        return false
    }

    /// Whether the last record's id sorts after `id` (both at `lastAt`).
    private func lastIdGreater(than id: UnsafeRawBufferPointer) -> Bool {
        log.withUnsafeBytes { b in
            let d = FactRecord.skim(b, at: Int(lastStart), previousAt: 0)!
            return FactRecord.SplitID(id).precedes(FactRecord.id(b, base: FactRecord.base(b), idCode: d.idCode, suffixStart: d.suffixStart))
        }
    }

    /// Merges another cluster's records into ours, in timeline order (re-encoding their ids
    /// against our base id).
    mutating func mergeLog(_ other: Cluster) {
        types |= other.types
        guard !other.log.isEmpty else { return }
        if log.isEmpty {
            log = other.log
            lastAt = other.lastAt
            lastStart = other.lastStart
            return
        }
        var merged: [UInt8] = []
        merged.reserveCapacity(log.count + other.log.count + 8)
        var outAt: Int64 = 0
        var outLastStart = 0
        log.withUnsafeBytes { a in
            other.log.withUnsafeBytes { b in
                let (baseA, startA) = (FactRecord.base(a), FactRecord.recordsStart(a))
                let (baseB, startB) = (FactRecord.base(b), FactRecord.recordsStart(b))
                FactRecord.append(UnsafeRawBufferPointer(rebasing: a[0..<startA]), to: &merged)
                let sameBase = baseA.elementsEqual(baseB)
                var whole: [UInt8] = []
                func emit(_ d: FactRecord.Decoded, _ bytes: UnsafeRawBufferPointer, ours: Bool) {
                    outLastStart = merged.count
                    FactRecord.appendVarint(FactRecord.zigzag(d.fact.at &- outAt), to: &merged)
                    outAt = d.fact.at
                    if ours || sameBase {
                        FactRecord.append(UnsafeRawBufferPointer(rebasing: bytes[d.bodyStart..<d.end]), to: &merged)
                        return
                    }
                    // The header, channel and field bytes, then the id against our base.
                    FactRecord.append(UnsafeRawBufferPointer(rebasing: bytes[d.bodyStart..<d.idStart]), to: &merged)
                    whole.removeAll(keepingCapacity: true)
                    d.id(in: bytes, base: baseB).append(to: &whole)
                    whole.withUnsafeBytes { id in
                        let shared = FactRecord.sharedPrefix(id, baseA)
                        FactRecord.appendVarint(UInt64(id.count - shared) << 4 | UInt64(shared), to: &merged)
                        FactRecord.append(UnsafeRawBufferPointer(rebasing: id[shared...]), to: &merged)
                    }
                }
                var (pa, atA, pb, atB) = (startA, Int64(0), startB, Int64(0))
                var da = FactRecord.decode(a, at: startA, previousAt: 0)
                var db = FactRecord.decode(b, at: startB, previousAt: 0)
                while let x = da, let y = db {
                    // Ties keep ours first, like an insert after equal records.
                    let yFirst = FactRecord.less(y.fact.at, y.id(in: b, base: baseB), x.fact.at, x.id(in: a, base: baseA))
                    if yFirst {
                        emit(y, b, ours: false); atB = y.fact.at; pb = y.end
                        db = pb < b.count ? FactRecord.decode(b, at: pb, previousAt: atB) : nil
                    } else {
                        emit(x, a, ours: true); atA = x.fact.at; pa = x.end
                        da = pa < a.count ? FactRecord.decode(a, at: pa, previousAt: atA) : nil
                    }
                }
                while let x = da {
                    emit(x, a, ours: true); atA = x.fact.at; pa = x.end
                    da = pa < a.count ? FactRecord.decode(a, at: pa, previousAt: atA) : nil
                }
                while let y = db {
                    emit(y, b, ours: false); atB = y.fact.at; pb = y.end
                    db = pb < b.count ? FactRecord.decode(b, at: pb, previousAt: atB) : nil
                }
            }
        }
        log = ByteLog(merged)
        lastAt = outAt
        lastStart = UInt32(outLastStart)
    }
}
