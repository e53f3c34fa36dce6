/// One event as the projections of SPEC §3 read it: interned strings and small integers.
///
/// Clusters do not hold `Fact`s: they keep their events as compact records (`FactRecord`) and
/// decode them into `Fact`s when a query reads them.
struct Fact: Sendable {
    static let none: UInt32 = .max
    static let noChannel: UInt8 = .max
    static let noTime: Int64 = .min
    static let noStatus: UInt8 = .max

    var at: Int64
    var type: EventType
    /// `effectiveChannel` raw value, or `noChannel`.
    var channel: UInt8
    var flags: UInt8
    /// `EligibilityStatus` raw value, or `noStatus`.
    var status: UInt8
    /// Interned subject id of an `identify` (the only facts whose subject a query reads), else
    /// `Fact.none`.
    var subject: UInt32
    /// Interned `patient` (identify) or `referrer` (referral) id, else `Fact.none`.
    var other: UInt32
    // Interned values (0 = absent); `conversation`, `message` and `appointment` are inline
    // tokens instead (`FactRecord.inlineBytes`), equal for equal strings once `InlineTokens`
    // settled them.
    var source: UInt32
    var medium: UInt32
    var campaign: UInt32
    var term: UInt32
    var agent: UInt32
    var conversation: UInt32
    var concern: UInt32
    var message: UInt32
    var appointment: UInt32
    var location: UInt32
    var provider: UInt32
    var scheduledFor: Int64
    var amountCents: Int64

    static let inquiryFlag: UInt8 = 1
    static let resolvedFlag: UInt8 = 2

    var isInquiry: Bool { flags & Fact.inquiryFlag != 0 }
    var isResolved: Bool { flags & Fact.resolvedFlag != 0 }
    var effectiveChannel: Channel? { channel == Fact.noChannel ? nil : Channel(rawValue: channel) }

    init(at: Int64, type: EventType) {
        self.at = at
        self.type = type
        channel = Fact.noChannel
        flags = 0
        status = Fact.noStatus
        subject = Fact.none
        other = Fact.none
        source = 0; medium = 0; campaign = 0; term = 0; agent = 0; conversation = 0
        concern = 0; message = 0; appointment = 0; location = 0; provider = 0
        scheduledFor = Fact.noTime
        amountCents = 0
    }
}

/// The stored form of a fact inside a cluster's byte log.
///
/// A non-empty log starts with its *base id*: a length byte and the first (up to 15) bytes of
/// the id of the first event the log received. Records follow, in timeline order (by `at`, then
/// id bytes). One record:
///
/// | bytes | content |
/// | --- | --- |
/// | varint | zigzag of `at` minus the previous record's `at` (0 before the first) |
/// | 1 | header: bits 0–3 type, bit 4 inquiry, bit 5 resolved, bit 6 channel byte follows, bit 7 fields follow |
/// | 0/1 | effective channel raw value or 0xFF, when it is not the type's default |
/// | varint | with bit 7: presence mask of `Field`s, then each present field in order: a varint, or for an inline field (`inlineFields`) a varint length and that many UTF-8 bytes |
/// | varint + n | event id: `suffix length << 4 | shared`, then the suffix bytes; the id is the first `shared` bytes of the base id followed by the suffix |
///
/// Ids are varints into the projector's interners; `scheduledFor` is a zigzag delta from `at`,
/// `amount` a zigzag value. Conversation, message and appointment ids are kept inline: nearly
/// unique to one patient, an entry in a shared table would cost more than their bytes. Event ids are kept whole (timeline ties compare them), but the
/// events of one cluster usually share a long id prefix, stored once in the base id. A record
/// takes its id's suffix plus a few bytes per present field, a small fraction of a decoded `Fact`.
enum FactRecord {
    /// The optional fields, in stored order (raw values are bit numbers of the presence mask).
    enum Field: Int, CaseIterable {
        case status = 0, subject, other, source, medium, campaign, term, agent, conversation
        case concern, message, appointment, location, provider, scheduledFor, amount
    }

    /// The fields kept inline, as a length and their bytes, rather than interned.
    static let inlineFields: UInt64 = 1 << UInt64(Field.conversation.rawValue) | 1 << UInt64(Field.message.rawValue)
        | 1 << UInt64(Field.appointment.rawValue)

    /// A decoded inline field is a *token*: 1 + the offset in its log of the field's length
    /// varint (0 stays "absent"). Tokens of equal strings differ until `InlineTokens` makes them
    /// equal; `inlineBytes` reads a token's string back.
    @inline(__always)
    static func inlineBytes(_ b: UnsafeRawBufferPointer, token: UInt32) -> UnsafeRawBufferPointer {
        var p = Int(token) - 1
        let n = Int(readVarint(b, &p)!)
        return UnsafeRawBufferPointer(rebasing: b[p..<(p + n)])
    }

    static let inquiryBit: UInt8 = 1 << 4
    static let resolvedBit: UInt8 = 1 << 5
    static let channelBit: UInt8 = 1 << 6
    static let fieldsBit: UInt8 = 1 << 7

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    @inline(__always) static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var x = v
        while x >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: x) | 0x80)
            x >>= 7
        }
        out.append(UInt8(x))
    }

    /// Appends bytes with one copy (a raw buffer appended as a sequence goes byte by byte).
    @inline(__always) static func append(_ b: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: b.baseAddress?.assumingMemoryBound(to: UInt8.self), count: b.count))
    }

    @inline(__always) static func varintSize(_ v: UInt64) -> Int {
        // Seven bits a byte: ceil(significant bits / 7), at least one byte.
        (64 - (v | 1).leadingZeroBitCount + 6) / 7
    }

    /// Reads a varint at `pos`, nil when it runs past the end or over 64 bits.
    @inline(__always) static func readVarint(_ b: UnsafeRawBufferPointer, _ pos: inout Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while pos < b.count {
            let byte = b[pos]
            pos += 1
            guard shift < 64 else { return nil }
            v |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    /// The longest id prefix a record takes from its log's base id (it must fit the low four
    /// bits of the id varint).
    static let maxShared = 15

    /// The base id of a non-empty log and where its first record starts; nil when malformed
    /// (a base over `maxShared` bytes included, so that checked logs hold a one-byte length).
    static func checkedBase(_ b: UnsafeRawBufferPointer) -> (id: UnsafeRawBufferPointer, recordsStart: Int)? {
        guard !b.isEmpty else { return nil }
        let n = Int(b[0])
        guard n <= maxShared, n < b.count else { return nil }
        return (UnsafeRawBufferPointer(rebasing: b[1..<(1 + n)]), 1 + n)
    }

    /// The base id of a non-empty, well-formed log (its first byte is the base's length).
    @inline(__always)
    static func base(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: b.baseAddress! + 1, count: Int(b.load(as: UInt8.self)))
    }

    /// Where the records of a well-formed log start (0 for an empty log).
    @inline(__always)
    static func recordsStart(_ b: UnsafeRawBufferPointer) -> Int {
        b.isEmpty ? 0 : 1 + Int(b.load(as: UInt8.self))
    }

    /// The number of leading bytes `id` shares with `base`, at most `maxShared`.
    @inline(__always)
    static func sharedPrefix(_ id: UnsafeRawBufferPointer, _ base: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(id.count, base.count, maxShared)
        @inline(__always) func differences(_ at: Int) -> UInt64 {
            UInt64(littleEndian: id.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self))
        }
        if n >= 8 {
            // Eight bytes at once: the first differing byte is the lowest set byte of the xor.
            let x = differences(0)
            if x != 0 { return x.trailingZeroBitCount >> 3 }
            // Then the last eight (n ≤ 15: they cover every byte from 8 on).
            let y = differences(n - 8)
            return y == 0 ? n : n - 8 + y.trailingZeroBitCount >> 3
        }
        var i = 0
        while i < n && id[i] == base[i] { i += 1 }
        return i
    }

    /// An event id as a record keeps it: the first `shared` bytes of `base`, then `suffix`.
    struct SplitID {
        var base: UnsafeRawBufferPointer
        var shared: Int
        var suffix: UnsafeRawBufferPointer

        /// A whole id.
        init(_ id: UnsafeRawBufferPointer) {
            base = id
            shared = 0
            suffix = id
        }

        init(base: UnsafeRawBufferPointer, shared: Int, suffix: UnsafeRawBufferPointer) {
            self.base = base
            self.shared = shared
            self.suffix = suffix
        }

        var count: Int { shared + suffix.count }

        @inline(__always) subscript(i: Int) -> UInt8 { i < shared ? base[i] : suffix[i - shared] }

        /// Byte-wise order of the ids.
        func precedes(_ other: SplitID) -> Bool {
            let n = Swift.min(count, other.count)
            var i = 0
            while i < n {
                let x = self[i], y = other[i]
                if x != y { return x < y }
                i += 1
            }
            return count < other.count
        }

        /// Appends the id's bytes.
        func append(to out: inout [UInt8]) {
            FactRecord.append(UnsafeRawBufferPointer(rebasing: base[0..<shared]), to: &out)
            FactRecord.append(suffix, to: &out)
        }
    }

    /// One decoded record: the fact, where its id (the id varint) and its suffix bytes are, how
    /// much of the base id it shares, and where its body (everything after the `at` delta) lies
    /// in the log.
    struct Decoded {
        var fact: Fact
        var idStart: Int
        var shared: Int
        var suffixStart: Int
        var suffixEnd: Int
        var bodyStart: Int
        var end: Int

        /// The record's id, given its log's base id.
        func id(in b: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer) -> SplitID {
            SplitID(base: base, shared: shared, suffix: UnsafeRawBufferPointer(rebasing: b[suffixStart..<suffixEnd]))
        }
    }

    /// The limits a record is checked against when decoded from untrusted bytes (snapshots).
    struct Limits {
        var ids: UInt32
        var values: UInt32
        /// The length of the log's base id.
        var baseLength = 0
    }

    /// Decodes the record at `pos` that follows a record at `previousAt`; nil when the bytes
    /// are malformed or, with `limits`, name a string that does not exist.
    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, at pos: Int, previousAt: Int64, limits: Limits? = nil) -> Decoded? {
        var p = pos
        guard let delta = readVarint(b, &p), p < b.count else { return nil }
        let at = previousAt &+ unzigzag(delta)
        let bodyStart = p
        let header = b[p]
        p += 1
        guard let type = EventType(rawValue: header & 0x0F) else { return nil }
        var f = Fact(at: at, type: type)
        if header & inquiryBit != 0 { f.flags |= Fact.inquiryFlag }
        if header & resolvedBit != 0 { f.flags |= Fact.resolvedFlag }
        if header & channelBit != 0 {
            guard p < b.count else { return nil }
            f.channel = b[p]
            p += 1
            guard f.channel == Fact.noChannel || Channel(rawValue: f.channel) != nil else { return nil }
        } else {
            f.channel = type.defaultChannel?.rawValue ?? Fact.noChannel
        }
        if header & fieldsBit != 0 {
            guard let mask = readVarint(b, &p), mask < 1 << 16 else { return nil }
            var m = mask
            while m != 0 {
                let bit = m.trailingZeroBitCount
                m &= m - 1
                let fieldStart = p
                guard let v = readVarint(b, &p) else { return nil }
                if inlineFields & (1 << UInt64(bit)) != 0 {
                    guard v <= UInt64(b.count - p) else { return nil }
                    let bytes = UnsafeRawBufferPointer(rebasing: b[p..<(p + Int(v))])
                    p += Int(v)
                    if limits != nil { guard EventView.isValidUTF8(bytes) else { return nil } }
                    let token = UInt32(fieldStart + 1)
                    switch bit {
                    case Field.conversation.rawValue: f.conversation = token
                    case Field.message.rawValue: f.message = token
                    default: f.appointment = token
                    }
                    continue
                }
                if bit == Field.scheduledFor.rawValue { f.scheduledFor = at &+ unzigzag(v); continue }
                if bit == Field.amount.rawValue { f.amountCents = unzigzag(v); continue }
                guard v <= UInt64(UInt32.max) else { return nil }
                let x = UInt32(v)
                if let limits {
                    switch bit {
                    case Field.status.rawValue: guard EligibilityStatus(rawValue: UInt8(truncatingIfNeeded: x)) != nil, x < 256 else { return nil }
                    case Field.subject.rawValue, Field.other.rawValue: guard x < limits.ids else { return nil }
                    default: guard x <= limits.values else { return nil }
                    }
                }
                switch bit {
                case Field.status.rawValue: f.status = UInt8(truncatingIfNeeded: x)
                case Field.subject.rawValue: f.subject = x
                case Field.other.rawValue: f.other = x
                case Field.source.rawValue: f.source = x
                case Field.medium.rawValue: f.medium = x
                case Field.campaign.rawValue: f.campaign = x
                case Field.term.rawValue: f.term = x
                case Field.agent.rawValue: f.agent = x
                case Field.conversation.rawValue: f.conversation = x
                case Field.concern.rawValue: f.concern = x
                case Field.message.rawValue: f.message = x
                case Field.appointment.rawValue: f.appointment = x
                case Field.location.rawValue: f.location = x
                default: f.provider = x
                }
            }
        }
        let idStart = p
        guard let idCode = readVarint(b, &p), idCode >> 4 <= UInt64(b.count - p) else { return nil }
        let shared = Int(idCode & 0x0F)
        if let limits { guard shared <= limits.baseLength else { return nil } }
        let suffixStart = p
        p += Int(idCode >> 4)
        return Decoded(fact: f, idStart: idStart, shared: shared, suffixStart: suffixStart, suffixEnd: p, bodyStart: bodyStart, end: p)
    }

    /// The `at`, id and end of the record at `pos` (in a log with base id `base`), skipping its
    /// fields undecoded; nil when the bytes are malformed.
    @inline(__always)
    static func skim(_ b: UnsafeRawBufferPointer, at pos: Int, previousAt: Int64) -> (at: Int64, idCode: UInt64, suffixStart: Int, end: Int)? {
        var p = pos
        guard let delta = readVarint(b, &p), p < b.count else { return nil }
        let header = b[p]
        p += header & channelBit != 0 ? 2 : 1
        guard p <= b.count else { return nil }
        if header & fieldsBit != 0 {
            guard let mask = readVarint(b, &p), skipFields(b, &p, mask: mask) else { return nil }
        }
        guard let idCode = readVarint(b, &p), idCode >> 4 <= UInt64(b.count - p) else { return nil }
        let suffixStart = p
        p += Int(idCode >> 4)
        return (previousAt &+ unzigzag(delta), idCode, suffixStart, p)
    }

    /// Moves `p` past the fields of presence mask `mask`; false when they run past the end.
    @inline(__always)
    static func skipFields(_ b: UnsafeRawBufferPointer, _ p: inout Int, mask: UInt64) -> Bool {
        var m = mask & ~inlineFields
        if m == mask {
            // Varints only: count the bytes that end one.
            var fields = m.nonzeroBitCount
            while fields > 0 {
                guard p < b.count else { return false }
                if b[p] < 0x80 { fields -= 1 }
                p += 1
            }
            return true
        }
        m = mask
        while m != 0 {
            let bit = UInt64(m.trailingZeroBitCount)
            m &= m - 1
            guard let v = readVarint(b, &p) else { return false }
            if inlineFields & (1 << bit) != 0 {
                guard v <= UInt64(b.count - p) else { return false }
                p += Int(v)
            }
        }
        return true
    }

    /// The id of a record skimmed with id varint `idCode` and suffix at `suffixStart` of `b`, in a
    /// log with base id `base`.
    @inline(__always)
    static func id(_ b: UnsafeRawBufferPointer, base: UnsafeRawBufferPointer, idCode: UInt64, suffixStart: Int) -> SplitID {
        SplitID(base: base, shared: Int(idCode & 0x0F), suffix: UnsafeRawBufferPointer(rebasing: b[suffixStart..<(suffixStart + Int(idCode >> 4))]))
    }

    /// Timeline order of (at, id) pairs.
    @inline(__always)
    static func less(_ a: Int64, _ aID: SplitID, _ b: Int64, _ bID: SplitID) -> Bool {
        if a != b { return a < b }
        return aID.precedes(bID)
    }
}

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

    /// Calls `body` with each fact in timeline order.
    func forEachFact(_ body: (Fact) -> Void) {
        log.withUnsafeBytes { b in
            var tokens = InlineTokens()
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                var d = FactRecord.decode(b, at: pos, previousAt: at)!
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
        log.withUnsafeBytes { b in
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                let start = pos
                let delta = FactRecord.readVarint(b, &pos)!
                let header = b[pos]
                if header & 0x0F == type.rawValue {
                    let d = FactRecord.decode(b, at: start, previousAt: at)!
                    body(d.fact)
                    at = d.fact.at
                    pos = d.end
                    continue
                }
                at = at &+ FactRecord.unzigzag(delta)
                pos += 1
                if header & FactRecord.channelBit != 0 { pos += 1 }
                if header & FactRecord.fieldsBit != 0 {
                    let mask = FactRecord.readVarint(b, &pos)!
                    _ = FactRecord.skipFields(b, &pos, mask: mask)
                }
                let idCode = FactRecord.readVarint(b, &pos)!
                pos += Int(idCode >> 4)
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

/// Settles the inline tokens of one pass over a log (`FactRecord.inlineBytes`): every
/// occurrence of a string takes the token of the first one met, so that facts compare their
/// conversation, message and appointment ids as the values they are.
struct InlineTokens {
    /// The first token of each distinct string met, in order.
    private var firsts: [UInt32] = []
    /// Past `linearLimit` strings: the first tokens by hash of their bytes.
    private var byHash: [UInt64: [UInt32]] = [:]
    static let linearLimit = 16

    /// Replaces the fact's inline tokens by settled ones.
    @inline(__always)
    mutating func settle(_ f: inout Fact, _ b: UnsafeRawBufferPointer) {
        if f.conversation != 0 { f.conversation = settled(f.conversation, b) }
        if f.message != 0 { f.message = settled(f.message, b) }
        if f.appointment != 0 { f.appointment = settled(f.appointment, b) }
    }

    private mutating func settled(_ token: UInt32, _ b: UnsafeRawBufferPointer) -> UInt32 {
        let s = FactRecord.inlineBytes(b, token: token)
        @inline(__always) func same(_ t: UInt32) -> Bool {
            let x = FactRecord.inlineBytes(b, token: t)
            return x.count == s.count && (s.isEmpty || Interner.bytesEqual(x, s))
        }
        if firsts.count < InlineTokens.linearLimit {
            for t in firsts where same(t) { return t }
            firsts.append(token)
            if firsts.count == InlineTokens.linearLimit {
                for t in firsts { byHash[Interner.hash(FactRecord.inlineBytes(b, token: t)), default: []].append(t) }
            }
            return token
        }
        let h = Interner.hash(s)
        if let list = byHash[h] { for t in list where same(t) { return t } }
        byHash[h, default: []].append(token)
        return token
    }
}
