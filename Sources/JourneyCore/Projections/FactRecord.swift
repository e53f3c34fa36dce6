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
/// | 0/1 | the type's raw value, when bits 0–3 are 15 (`extendedType`: types 15 and up) |
/// | 0/1 | effective channel raw value or 0xFF, when it is not the type's default |
/// | varint | with bit 7: presence mask of `Field`s, then each present field in order: a varint, or for an inline field (`inlineFields`) a varint length and that many UTF-8 bytes |
/// | varint + n | event id: `suffix length << 4 | shared`, then the suffix bytes; the id is the first `shared` bytes of the base id followed by the suffix |
///
/// Ids are varints into the projector's interners; `scheduledFor` is a zigzag delta from `at`,
/// `amount` a zigzag value, `attrs` the interned `AttrsText` of the event's attrs (the highest
/// field, present only for an event with attrs). Conversation, message and appointment ids are
/// kept inline: nearly unique to one patient, an entry in a shared table would cost more than their bytes. Event ids are kept whole (timeline ties compare them), but the
/// events of one cluster usually share a long id prefix, stored once in the base id. A record
/// takes its id's suffix plus a few bytes per present field, a small fraction of a decoded `Fact`.
enum FactRecord {
    /// The optional fields, in stored order (raw values are bit numbers of the presence mask).
    enum Field: Int, CaseIterable {
        case status = 0, subject, other, source, medium, campaign, term, agent, conversation
        case concern, message, appointment, location, provider, scheduledFor, amount
        /// The event's attrs, as the interned `AttrsText` (present only when it has attrs).
        case attrs
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

    /// The header's type bits for every type from 15 on, whose raw value follows in a byte of
    /// its own (four bits hold 16 values; the types 0–14 keep their one-byte header).
    static let extendedType: UInt8 = 15

    /// The header's type bits for a type of raw value `raw`.
    @inline(__always) static func typeBits(_ raw: UInt8) -> UInt8 { Swift.min(raw, extendedType) }

    /// The bytes of a record body's header, its extended type byte and channel byte, given its
    /// header byte.
    @inline(__always) static func headerSize(_ header: UInt8) -> Int {
        1 + (header & 0x0F == extendedType ? 1 : 0) + (header & channelBit != 0 ? 1 : 0)
    }

    /// The type of a record whose header byte is at `pos` of `b`; nil when malformed.
    @inline(__always) static func type(_ b: UnsafeRawBufferPointer, header pos: Int) -> EventType? {
        let bits = b[pos] & 0x0F
        guard bits == extendedType else { return EventType(rawValue: bits) }
        guard pos + 1 < b.count, b[pos + 1] >= extendedType else { return nil }
        return EventType(rawValue: b[pos + 1])
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
        guard let type = type(b, header: p) else { return nil }
        p += header & 0x0F == extendedType ? 2 : 1
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
            guard let mask = readVarint(b, &p), mask < 1 << 17 else { return nil }
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
                    case Field.status.rawValue:
                        let code = UInt8(truncatingIfNeeded: x)
                        let known = type == .consent ? ConsentStatus(rawValue: code) != nil : EligibilityStatus(rawValue: code) != nil
                        guard known, x < 256 else { return nil }
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
                case Field.provider.rawValue: f.provider = x
                default: f.attrs = x
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
        p += headerSize(header)
        guard p <= b.count else { return nil }
        if header & fieldsBit != 0 {
            guard let mask = readVarint(b, &p), skipFields(b, &p, mask: mask) else { return nil }
        }
        guard let idCode = readVarint(b, &p), idCode >> 4 <= UInt64(b.count - p) else { return nil }
        let suffixStart = p
        p += Int(idCode >> 4)
        return (previousAt &+ unzigzag(delta), idCode, suffixStart, p)
    }

    /// Moves `pos` from the header byte of a record of a cluster log (bytes this process wrote,
    /// so not bounds-checked; a varint missing there traps) past the rest of the record: the
    /// header, its fields undecoded and its id. For passes that read most records from their
    /// header alone.
    @inline(__always)
    static func skipBody(_ b: UnsafeRawBufferPointer, _ pos: inout Int, header: UInt8) {
        pos += headerSize(header)
        if header & fieldsBit != 0 {
            let mask = readVarint(b, &pos)!
            _ = skipFields(b, &pos, mask: mask)
        }
        let idCode = readVarint(b, &pos)!
        pos += Int(idCode >> 4)
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
