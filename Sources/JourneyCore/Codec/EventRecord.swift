/// The stored binary form of an `Event` (format version 1).
///
/// Layout, all integers little-endian, offsets from the start of the record:
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 1 | format version (1) |
/// | 1 | 1 | `EventType` raw value |
/// | 2 | 1 | flags: bit0 channel, bit1 resolved present, bit2 resolved value, bit3 direction, bit4 outcome, bit5 to_channel, bit6 status |
/// | 3 | 1 | int flags: bit0 duration_s, bit1 scheduled_for, bit2 amount |
/// | 4 | 5 | raw values of channel, direction, outcome, to_channel, status (0 when absent) |
///
/// The status byte holds an `EligibilityStatus` (0–2) on every type but `consent`, whose
/// status is a `ConsentStatus` (3–4): the raw values of the two enums do not overlap.
/// | 9 | 1 | attribute count |
/// | 10 | 2 | presence bits of the 16 string fields (`StringField` order) |
/// | 12 | 8 | `at` |
/// | 20 | 8 × n | the present optional integers, in int-flag bit order |
/// | T | 2 × 16 | end offset of each string field (absent fields are empty and present bit 0) |
/// | T+32 | … | string bytes, in `StringField` order |
/// | … | … | attributes: u16 key length, u16 value length, key bytes, value bytes |
///
/// Every field is reachable in O(1) (optional integers by a popcount of the lower int flags),
/// which is what lets `EventView` read records straight from LMDB's memory without decoding.
/// The encoding is canonical: equal events encode to equal bytes.
package enum EventRecord {
    /// The format version written as the first byte of every record.
    package static let formatVersion: UInt8 = 1

    /// The string fields of an event, in their stored order. Raw values are part of the format.
    package enum StringField: Int, CaseIterable, Sendable {
        case id = 0, subject, source, medium, campaign, term, agent, conversation, concern
        case appointment, location, provider, message, referrer, patient, toAgent
    }

    /// A record that cannot be read: truncated, corrupt, or from an unknown format version.
    package struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The byte offset where the problem was found.
        package var offset: Int
        /// What is wrong, for a person.
        package var reason: String

        package init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }

        package var description: String { "corrupt event record at byte \(offset): \(reason)" }
    }

    /// An event that cannot be encoded (strings over 64 KiB in all, over 255 attributes, an
    /// attribute key repeated, or a status of the wrong kind for its type).
    package struct EncodeError: Error, Sendable, Equatable, CustomStringConvertible {
        package var reason: String
        package var description: String { "cannot encode event: \(reason)" }
    }

    // Layout constants.
    @usableFromInline static let headerSize = 20
    @usableFromInline static let stringFieldCount = 16
    @usableFromInline static let tableSize = 32

    @usableFromInline static let flagChannel: UInt8 = 1 << 0
    @usableFromInline static let flagResolved: UInt8 = 1 << 1
    @usableFromInline static let flagResolvedValue: UInt8 = 1 << 2
    @usableFromInline static let flagDirection: UInt8 = 1 << 3
    @usableFromInline static let flagOutcome: UInt8 = 1 << 4
    @usableFromInline static let flagToChannel: UInt8 = 1 << 5
    @usableFromInline static let flagStatus: UInt8 = 1 << 6

    @usableFromInline static let intDuration: UInt8 = 1 << 0
    @usableFromInline static let intScheduledFor: UInt8 = 1 << 1
    @usableFromInline static let intAmount: UInt8 = 1 << 2

    /// Appends the record of `e` to `out`.
    ///
    /// - Throws: `EncodeError` when the event's strings exceed 64 KiB in all, it has more than
    ///   255 attributes (validated events are far below both: an event is at most 4 KiB), an
    ///   attribute key repeats, or its status is of the wrong kind for its type (a consent status
    ///   on any type but `consent`, an eligibility status on a `consent`; validation rejects
    ///   these too).
    package static func encode(_ e: Event, into out: inout [UInt8]) throws(EncodeError) {
        let base = out.count
        var flags: UInt8 = 0
        var ints: UInt8 = 0
        if e.channel != nil { flags |= flagChannel }
        if let r = e.resolved { flags |= flagResolved | (r ? flagResolvedValue : 0) }
        if e.direction != nil { flags |= flagDirection }
        if e.outcome != nil { flags |= flagOutcome }
        if e.toChannel != nil { flags |= flagToChannel }
        if e.status != nil || e.consentStatus != nil { flags |= flagStatus }
        if e.durationS != nil { ints |= intDuration }
        if e.scheduledFor != nil { ints |= intScheduledFor }
        if e.amountCents != nil { ints |= intAmount }
        guard e.attrs.count <= 255 else { throw EncodeError(reason: "\(e.attrs.count) attributes, at most 255") }
        guard e.type == .consent ? e.status == nil : e.consentStatus == nil else {
            throw EncodeError(reason: "a status of the wrong kind for type \(e.type.name)")
        }

        out.append(formatVersion)
        out.append(e.type.rawValue)
        out.append(flags)
        out.append(ints)
        out.append(e.channel?.rawValue ?? 0)
        out.append(e.direction?.rawValue ?? 0)
        out.append(e.outcome?.rawValue ?? 0)
        out.append(e.toChannel?.rawValue ?? 0)
        out.append(e.status?.rawValue ?? e.consentStatus?.rawValue ?? 0)
        out.append(UInt8(e.attrs.count))
        out.append(0)  // string presence bits, patched once the strings are written
        out.append(0)
        appendLE(UInt64(bitPattern: e.at), to: &out)
        if let v = e.durationS { appendLE(UInt64(bitPattern: v), to: &out) }
        if let v = e.scheduledFor { appendLE(UInt64(bitPattern: v), to: &out) }
        if let v = e.amountCents { appendLE(UInt64(bitPattern: v), to: &out) }

        // End offsets are relative to the record start and must fit in a u16.
        let tableStart = out.count
        for _ in 0..<tableSize / 8 { appendLE(UInt64(0), to: &out) }
        var present: UInt16 = 0
        func put(_ s: String?, _ field: StringField) {
            let i = field.rawValue
            if var s {
                present |= 1 << UInt16(i)
                // A native String lends its UTF-8 without copying: one memcpy.
                s.withUTF8 { out.append(contentsOf: $0) }
            }
            let end = out.count - base  // checked once at the end: offsets only grow
            out[tableStart + 2 * i] = UInt8(truncatingIfNeeded: end)
            out[tableStart + 2 * i + 1] = UInt8(truncatingIfNeeded: end >> 8)
        }
        put(e.id, .id); put(e.subject, .subject); put(e.source, .source); put(e.medium, .medium)
        put(e.campaign, .campaign); put(e.term, .term); put(e.agent, .agent)
        put(e.conversation, .conversation); put(e.concern, .concern); put(e.appointment, .appointment)
        put(e.location, .location); put(e.provider, .provider); put(e.message, .message)
        put(e.referrer, .referrer); put(e.patient, .patient); put(e.toAgent, .toAgent)
        guard out.count - base <= Int(UInt16.max) else {
            out.removeSubrange(base...)
            throw EncodeError(reason: "strings over 64 KiB in all")
        }
        out[base + 10] = UInt8(truncatingIfNeeded: present)
        out[base + 11] = UInt8(truncatingIfNeeded: present >> 8)
        for (i, a) in e.attrs.enumerated() {
            // `Event` keeps attrs sorted; a repeated key would make a record the decoder rejects.
            if i > 0, e.attrs[i - 1].key.utf8.elementsEqual(a.key.utf8) {
                out.removeSubrange(base...)
                throw EncodeError(reason: "attribute key \"\(a.key)\" repeated")
            }
            let k = a.key.utf8.count, v = a.value.utf8.count
            guard k <= Int(UInt16.max), v <= Int(UInt16.max) else {
                out.removeSubrange(base...)
                throw EncodeError(reason: "attribute over 64 KiB")
            }
            appendLE(UInt16(k), to: &out)
            appendLE(UInt16(v), to: &out)
            out.append(contentsOf: a.key.utf8)
            out.append(contentsOf: a.value.utf8)
        }
    }

    /// The record of `e` as a new array.
    package static func encode(_ e: Event) throws(EncodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        try encode(e, into: &out)
        return out
    }

    /// Decodes a whole record into an `Event`, validating it (bounds, enum values, UTF-8).
    package static func decode(_ raw: UnsafeRawBufferPointer) throws(DecodeError) -> Event {
        try EventView(validating: raw).event()
    }

    /// Decodes a record held in an array.
    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Event {
        let result: Result<Event, DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(DecodeError) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @inlinable static func appendLE<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        var x = v.littleEndian
        withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
    }
}

/// A zero-copy, read-only view of one stored event record.
///
/// The view borrows the bytes it was made from: it is valid only as long as they are (for a
/// record read from LMDB, only inside the read transaction's closure). `init(validating:)`
/// checks every offset once, so the accessors are O(1), never allocate, and never read out of
/// bounds, even for a corrupt record.
package struct EventView {
    /// The record's bytes.
    package let raw: UnsafeRawBufferPointer
    @usableFromInline let tableStart: Int

    /// Checks that `raw` is a well-formed version 1 record and views it.
    ///
    /// - Throws: `EventRecord.DecodeError` for a truncated or corrupt record or an unknown version.
    ///   (String contents are not checked for UTF-8 here; `event()` does.)
    package init(validating raw: UnsafeRawBufferPointer) throws(EventRecord.DecodeError) {
        self.raw = raw
        // The usual well-formed record passes one branch-light pass; anything it rejects goes
        // through the step-by-step check, which names the problem.
        if let t = EventView.wellFormedTableStart(raw) {
            tableStart = t
        } else {
            tableStart = try EventView.check(raw)
        }
    }

    /// Views a record this program encoded itself and has not let out of its memory since (an
    /// `EncodedBatch`'s records), without checking it again: a record is checked once, where it
    /// enters the program (read from the store, or parsed from input). Checked anyway in debug
    /// builds.
    @inline(__always)
    package init(trusted raw: UnsafeRawBufferPointer) {
        assert(EventView.wellFormedTableStart(raw) != nil, "a trusted record is not well formed")
        self.raw = raw
        let ints = raw.load(fromByteOffset: 3, as: UInt8.self)
        tableStart = EventRecord.headerSize + 8 * ints.nonzeroBitCount
    }

    // Case counts of the enums a record stores (`allCases` builds an array on every use).
    @usableFromInline static let typeCount = EventType.allCases.count
    @usableFromInline static let channelCount = Channel.allCases.count
    @usableFromInline static let directionCount = Direction.allCases.count
    @usableFromInline static let outcomeCount = CallOutcome.allCases.count
    @usableFromInline static let statusCount = EligibilityStatus.allCases.count

    /// Whether status byte `v` fits a record of type raw value `type` with flags `flags`: 0
    /// when absent, else an eligibility status, or a consent status on a `consent`.
    @inline(__always)
    static func statusOK(_ v: UInt8, type: UInt8, flags: UInt8) -> Bool {
        if flags & EventRecord.flagStatus == 0 { return v == 0 }
        return type == EventType.consent.rawValue
            ? v &- ConsentStatus.granted.rawValue <= ConsentStatus.revoked.rawValue - ConsentStatus.granted.rawValue
            : Int(v) < statusCount
    }

    /// The offset table's start when `raw` passes every check of `check(_:)`, else nil. Accepts
    /// exactly the records `check` accepts (tested against it on corrupted records).
    @inline(__always)
    package static func wellFormedTableStart(_ raw: UnsafeRawBufferPointer) -> Int? {
        typealias R = EventRecord
        let n = raw.count
        guard n >= R.headerSize else { return nil }
        let base = raw.baseAddress!
        let flags = base.load(fromByteOffset: 2, as: UInt8.self)
        let ints = base.load(fromByteOffset: 3, as: UInt8.self)
        // Raw values run from 0 without gaps, so "has a case" is "below the case count" (as in
        // `check`).
        @inline(__always) func enumOK(_ offset: Int, _ flag: UInt8, _ cases: Int) -> Bool {
            let v = base.load(fromByteOffset: offset, as: UInt8.self)
            return flags & flag != 0 ? Int(v) < cases : v == 0
        }
        // Non-short-circuit `&` keeps this mostly free of branches.
        let versionOK: Bool = base.load(as: UInt8.self) == R.formatVersion
        let typeOK: Bool = Int(base.load(fromByteOffset: 1, as: UInt8.self)) < typeCount
        let flagsOK: Bool = flags & 0x80 == 0 && (flags & R.flagResolved != 0 || flags & R.flagResolvedValue == 0)
        let intsOK: Bool = ints & ~0x07 == 0
        let enums1: Bool = enumOK(4, R.flagChannel, channelCount) & enumOK(5, R.flagDirection, directionCount)
        let enums2: Bool = enumOK(6, R.flagOutcome, outcomeCount) & enumOK(7, R.flagToChannel, channelCount)
        let enums3: Bool = statusOK(base.load(fromByteOffset: 8, as: UInt8.self), type: base.load(fromByteOffset: 1, as: UInt8.self), flags: flags)
        let headerOK: Bool = versionOK & typeOK & flagsOK & intsOK & enums1 & enums2 & enums3
        guard headerOK else { return nil }
        let tableStart = R.headerSize + 8 * ints.nonzeroBitCount
        let stringsStart = tableStart + R.tableSize
        guard stringsStart <= n else { return nil }
        let present = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
        guard present & 0b11 == 0b11 else { return nil }
        // Ends never decrease and absent strings are empty; the last end is then checked
        // against the size, which bounds all the others.
        let previous: Int
        let ok: Bool
        if n < 0x8000 {
            // Four 16-bit ends per word. Every valid end is at most n < 2^15, so with the top
            // bit of each lane set beforehand a lane-wise subtraction never borrows across
            // lanes, and a lane's top bit then says whether the end is >= the one before it.
            let high: UInt64 = 0x8000_8000_8000_8000
            var last = UInt64(stringsStart)
            var bad: UInt64 = 0
            var absent = UInt64(~present)
            for k in 0..<4 {
                let ends = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: tableStart + 8 * k, as: UInt64.self))
                let starts = ends << 16 | last
                bad |= ends & high  // an end of 2^15 or more is past n
                bad |= (((ends | high) &- starts) & high) ^ high
                // Absent fields (one bit each, spread to whole lanes) must be empty.
                bad |= (ends ^ starts) & EventView.absentLanes(absent & 0xF)
                absent >>= 4
                last = ends >> 48
            }
            ok = bad == 0
            previous = Int(last)
        } else {
            var end = stringsStart
            var bad = 0
            var absent = Int(~present)
            for i in 0..<R.stringFieldCount {
                let next = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: tableStart + 2 * i, as: UInt16.self)))
                // A negative gap sets the sign bit; an absent field's gap must be zero.
                bad |= (next &- end) & (Int.min | (0 &- (absent & 1)))
                absent >>= 1
                end = next
            }
            ok = bad == 0
            previous = end
        }
        guard ok, previous <= n else { return nil }
        if base.load(fromByteOffset: 9, as: UInt8.self) == 0 {
            return previous == n ? tableStart : nil
        }
        return (try? check(raw)) == tableStart ? tableStart : nil
    }

    /// The low four bits of `a` spread to four 16-bit lanes (bit k set: lane k all ones).
    @inline(__always)
    static func absentLanes(_ a: UInt64) -> UInt64 {
        // Multiplying by 1 + 2^15 + 2^30 + 2^45 puts a copy of bit k at k + 15j for each j:
        // sixteen distinct positions for four bits, so no carries, and the copy with j = k sits
        // at 16k, the lane's low bit, which the mask keeps. The last multiply fills each lane.
        ((a & 0xF) &* 0x0000_2000_4000_8001 & 0x0001_0001_0001_0001) &* 0xFFFF
    }

    /// Checks a record step by step and answers its offset table's start.
    package static func check(_ raw: UnsafeRawBufferPointer) throws(EventRecord.DecodeError) -> Int {
        typealias R = EventRecord
        let n = raw.count
        guard n >= R.headerSize else { throw .init(offset: n, reason: "truncated header (\(n) bytes)") }
        guard raw[0] == R.formatVersion else { throw .init(offset: 0, reason: "unknown format version \(raw[0])") }
        guard Int(raw[1]) < typeCount else { throw .init(offset: 1, reason: "unknown event type \(raw[1])") }
        let flags = raw[2], ints = raw[3]
        guard flags & 0x80 == 0 else { throw .init(offset: 2, reason: "unknown flag bits") }
        if flags & R.flagResolved == 0, flags & R.flagResolvedValue != 0 {
            throw .init(offset: 2, reason: "resolved value without resolved")
        }
        guard ints & ~0x07 == 0 else { throw .init(offset: 3, reason: "unknown int flag bits") }
        func checkEnum(_ offset: Int, _ flag: UInt8, _ cases: Int) throws(EventRecord.DecodeError) {
            let v = raw[offset]
            if flags & flag != 0 {
                guard Int(v) < cases else { throw .init(offset: offset, reason: "enum value \(v) out of range") }
            } else {
                guard v == 0 else { throw .init(offset: offset, reason: "value of an absent field") }
            }
        }
        try checkEnum(4, R.flagChannel, channelCount)
        try checkEnum(5, R.flagDirection, directionCount)
        try checkEnum(6, R.flagOutcome, outcomeCount)
        try checkEnum(7, R.flagToChannel, channelCount)
        guard statusOK(raw[8], type: raw[1], flags: flags) else {
            throw .init(offset: 8, reason: flags & R.flagStatus == 0 ? "value of an absent field"
                : "status \(raw[8]) out of range for type \(EventType(rawValue: raw[1])!.name)")
        }

        let tableStart = R.headerSize + 8 * ints.nonzeroBitCount
        let stringsStart = tableStart + R.tableSize
        guard stringsStart <= n else { throw .init(offset: n, reason: "truncated offset table") }
        let present = UInt16(raw[10]) | UInt16(raw[11]) << 8
        guard present & 0b11 == 0b11 else { throw .init(offset: 10, reason: "missing id or subject") }
        var previous = stringsStart
        for i in 0..<R.stringFieldCount {
            let p = tableStart + 2 * i  // inside `raw`: the table ends at stringsStart <= n
            let end = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt16.self)))
            guard end >= previous, end <= n else { throw .init(offset: p, reason: "string offset \(end) out of bounds") }
            if present & (1 << UInt16(i)) == 0, end != previous {
                throw .init(offset: p, reason: "absent string with content")
            }
            previous = end
        }
        var cursor = previous
        // Keys must be strictly ascending (as the encoder writes them): a record with keys out
        // of order or repeated is corrupt, and would decode to an event that re-encodes differently.
        var previousKey = 0..<0
        for a in 0..<Int(raw[9]) {
            guard cursor + 4 <= n else { throw .init(offset: cursor, reason: "truncated attribute") }
            let k = Int(raw[cursor]) | Int(raw[cursor + 1]) << 8
            let v = Int(raw[cursor + 2]) | Int(raw[cursor + 3]) << 8
            let key = cursor + 4..<cursor + 4 + k
            guard key.upperBound + v <= n else { throw .init(offset: n, reason: "truncated attribute") }
            if a > 0, !raw[previousKey].lexicographicallyPrecedes(raw[key]) {
                throw .init(offset: cursor, reason: "attribute keys out of order or repeated")
            }
            previousKey = key
            cursor = key.upperBound + v
        }
        guard cursor == n else { throw .init(offset: cursor, reason: "\(n - cursor) trailing bytes") }
        return tableStart
    }

    // MARK: Scalars

    /// The event type.
    @inlinable package var type: EventType { EventType(rawValue: raw[1])! }
    @inlinable var flags: UInt8 { raw[2] }
    @inlinable var intFlags: UInt8 { raw[3] }

    /// When it happened, in milliseconds since the Unix epoch.
    @inlinable package var at: Int64 { loadInt64(12) }

    /// The channel the input named (nil when it named none).
    @inlinable package var channel: Channel? {
        flags & EventRecord.flagChannel != 0 ? Channel(rawValue: raw[4]) : nil
    }

    /// The channel the event counts under (see `Event.effectiveChannel`).
    @inlinable package var effectiveChannel: Channel? {
        if let c = channel { return c }
        let t = type
        if t == .handoff, let c = toChannel { return c }
        return t.defaultChannel
    }

    /// Whether this is an inquiry (see `Event.isInquiry`).
    @inlinable package var isInquiry: Bool {
        switch type {
        case .chat, .form: true
        case .call: direction != .outbound
        default: false
        }
    }

    /// Whether this contact resolved the conversation's concern; nil when not said.
    @inlinable package var resolved: Bool? {
        flags & EventRecord.flagResolved != 0 ? flags & EventRecord.flagResolvedValue != 0 : nil
    }
    /// Direction of a call; nil when not said.
    @inlinable package var direction: Direction? {
        flags & EventRecord.flagDirection != 0 ? Direction(rawValue: raw[5]) : nil
    }
    /// Outcome of a call; nil when not said.
    @inlinable package var outcome: CallOutcome? {
        flags & EventRecord.flagOutcome != 0 ? CallOutcome(rawValue: raw[6]) : nil
    }
    /// The channel a handoff goes to; nil when not said.
    @inlinable package var toChannel: Channel? {
        flags & EventRecord.flagToChannel != 0 ? Channel(rawValue: raw[7]) : nil
    }
    /// Eligibility status; nil when not said (and on a `consent`).
    @inlinable package var status: EligibilityStatus? {
        flags & EventRecord.flagStatus != 0 ? EligibilityStatus(rawValue: raw[8]) : nil
    }
    /// Consent status of a `consent`; nil on every other type.
    @inlinable package var consentStatus: ConsentStatus? {
        flags & EventRecord.flagStatus != 0 ? ConsentStatus(rawValue: raw[8]) : nil
    }
    /// The status byte as stored (an `EligibilityStatus` or `ConsentStatus` raw value); nil when
    /// not said.
    @inlinable package var statusCode: UInt8? {
        flags & EventRecord.flagStatus != 0 ? raw[8] : nil
    }
    /// Call duration in seconds; nil when not said.
    @inlinable package var durationS: Int64? { optionalInt(EventRecord.intDuration) }
    /// When a booking is for, in ms since the epoch; nil when not said.
    @inlinable package var scheduledFor: Int64? { optionalInt(EventRecord.intScheduledFor) }
    /// Revenue in cents.
    @inlinable package var amountCents: Int64? { optionalInt(EventRecord.intAmount) }

    @inlinable func optionalInt(_ bit: UInt8) -> Int64? {
        let f = intFlags
        guard f & bit != 0 else { return nil }
        // Present integers are packed in bit order: skip the ones below this bit.
        return loadInt64(EventRecord.headerSize + 8 * (f & (bit &- 1)).nonzeroBitCount)
    }

    @inlinable func loadInt64(_ offset: Int) -> Int64 {
        Int64(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }

    // MARK: Strings

    /// The UTF-8 bytes of a string field, nil when absent (distinct from empty).
    @inlinable @inline(__always)
    package func bytes(_ field: EventRecord.StringField) -> UnsafeRawBufferPointer? {
        bytes(at: field.rawValue)
    }

    /// The UTF-8 bytes of the string field of raw value `i` (below `stringFieldCount`), nil
    /// when absent.
    @usableFromInline @inline(__always)
    func bytes(at i: Int) -> UnsafeRawBufferPointer? {
        // `init(validating:)` checked the header and every table entry against the record's
        // size, so these unchecked loads stay inside `raw` (and `i` is masked to the table).
        let i = i & (EventRecord.stringFieldCount - 1)
        let present = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
        guard present & (1 << UInt16(i)) != 0 else { return nil }
        let p = tableStart + 2 * i
        let end = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt16.self)))
        let start = i == 0 ? tableStart + EventRecord.tableSize
            : Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: p - 2, as: UInt16.self)))
        return UnsafeRawBufferPointer(start: raw.baseAddress! + start, count: end - start)
    }

    /// The id's bytes (always present in a valid record).
    @inlinable package var id: UnsafeRawBufferPointer { bytes(.id)! }
    /// The subject's bytes (always present in a valid record).
    @inlinable package var subject: UnsafeRawBufferPointer { bytes(.subject)! }
    // The other string fields: their UTF-8 bytes, nil when absent.
    @inlinable package var source: UnsafeRawBufferPointer? { bytes(.source) }
    @inlinable package var medium: UnsafeRawBufferPointer? { bytes(.medium) }
    @inlinable package var campaign: UnsafeRawBufferPointer? { bytes(.campaign) }
    @inlinable package var term: UnsafeRawBufferPointer? { bytes(.term) }
    @inlinable package var agent: UnsafeRawBufferPointer? { bytes(.agent) }
    @inlinable package var conversation: UnsafeRawBufferPointer? { bytes(.conversation) }
    @inlinable package var concern: UnsafeRawBufferPointer? { bytes(.concern) }
    @inlinable package var appointment: UnsafeRawBufferPointer? { bytes(.appointment) }
    @inlinable package var location: UnsafeRawBufferPointer? { bytes(.location) }
    @inlinable package var provider: UnsafeRawBufferPointer? { bytes(.provider) }
    @inlinable package var message: UnsafeRawBufferPointer? { bytes(.message) }
    @inlinable package var referrer: UnsafeRawBufferPointer? { bytes(.referrer) }
    @inlinable package var patient: UnsafeRawBufferPointer? { bytes(.patient) }
    @inlinable package var toAgent: UnsafeRawBufferPointer? { bytes(.toAgent) }

    /// The number of attributes.
    @inlinable package var attrCount: Int { Int(raw[9]) }

    /// Calls `body` with each attribute's key and value bytes, in key order.
    package func forEachAttr(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) rethrows {
        var cursor = Int(raw[tableStart + EventRecord.tableSize - 2]) | Int(raw[tableStart + EventRecord.tableSize - 1]) << 8
        for _ in 0..<attrCount {
            let k = Int(raw[cursor]) | Int(raw[cursor + 1]) << 8
            let v = Int(raw[cursor + 2]) | Int(raw[cursor + 3]) << 8
            let keyStart = cursor + 4
            try body(
                UnsafeRawBufferPointer(rebasing: raw[keyStart..<keyStart + k]),
                UnsafeRawBufferPointer(rebasing: raw[keyStart + k..<keyStart + k + v]))
            cursor = keyStart + k + v
        }
    }

    // MARK: UTF-8

    /// Checks that every string field and attribute is valid UTF-8 without decoding: the
    /// check `event()` makes, for readers that use the bytes directly. All-ASCII records (the
    /// usual case) take one word-at-a-time pass.
    @inline(__always)
    package func validateUTF8() throws(EventRecord.DecodeError) {
        let stringsStart = tableStart + EventRecord.tableSize
        let stringsEnd = Int(raw[tableStart + EventRecord.tableSize - 2]) | Int(raw[tableStart + EventRecord.tableSize - 1]) << 8
        if !EventView.isASCII(UnsafeRawBufferPointer(rebasing: raw[stringsStart..<stringsEnd])) {
            for field in EventRecord.StringField.allCases {
                if let b = bytes(field) { try check(b) }
            }
        }
        if attrCount > 0 {
            var failure: EventRecord.DecodeError?
            forEachAttr { k, v in
                guard failure == nil else { return }
                do throws(EventRecord.DecodeError) { try check(k); try check(v) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    private func check(_ b: UnsafeRawBufferPointer) throws(EventRecord.DecodeError) {
        guard EventView.isValidUTF8(b) else {
            throw .init(offset: b.baseAddress.map { $0 - raw.baseAddress! } ?? 0, reason: "invalid UTF-8")
        }
    }

    /// Whether `b` is valid UTF-8 (ASCII checked eight bytes at a time first).
    static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        if isASCII(b) { return true }
        var s = String(decoding: b, as: UTF8.self)
        // Decoding repairs invalid UTF-8, which shows as a change of bytes.
        return s.withUTF8 { u in u.count == b.count && u.elementsEqual(b) }
    }

    /// True when every byte is below 0x80.
    @inline(__always)
    static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        var acc: UInt64 = 0
        if n >= 8 {
            var i = 0
            while i + 16 <= n {
                acc |= b.loadUnaligned(fromByteOffset: i, as: UInt64.self) | b.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                i += 16
            }
            if i + 8 <= n { acc |= b.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
            acc |= b.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)  // the tail, overlapping
        } else {
            for i in 0..<n { acc |= UInt64(b[i]) }
        }
        return acc & 0x8080_8080_8080_8080 == 0
    }

    // MARK: Full decode

    /// Decodes the whole event, checking that every string is valid UTF-8.
    package func event() throws(EventRecord.DecodeError) -> Event {
        func string(_ field: EventRecord.StringField) throws(EventRecord.DecodeError) -> String? {
            guard let b = bytes(field) else { return nil }
            return try utf8(b)
        }
        func utf8(_ b: UnsafeRawBufferPointer) throws(EventRecord.DecodeError) -> String {
            // `String(decoding:)` is the fast path; it repairs invalid UTF-8, which shows as a
            // change of bytes (cheaper than the generic `String(validating:)`).
            var s = String(decoding: b, as: UTF8.self)
            let same = s.withUTF8 { u in u.count == b.count && u.elementsEqual(b) }
            guard same else {
                throw .init(offset: b.baseAddress.map { $0 - raw.baseAddress! } ?? 0, reason: "invalid UTF-8")
            }
            return s
        }
        var attrs: [Event.Attr] = []
        if attrCount > 0 {
            attrs.reserveCapacity(attrCount)
            var failure: EventRecord.DecodeError?
            forEachAttr { k, v in
                guard failure == nil else { return }
                do throws(EventRecord.DecodeError) {
                    attrs.append(Event.Attr(key: try utf8(k), value: try utf8(v)))
                } catch { failure = error }
            }
            if let failure { throw failure }
        }
        return Event(
            id: try string(.id)!, type: type, subject: try string(.subject)!, at: at,
            channel: channel, source: try string(.source), medium: try string(.medium),
            campaign: try string(.campaign), term: try string(.term), agent: try string(.agent),
            conversation: try string(.conversation), concern: try string(.concern), resolved: resolved,
            direction: direction, durationS: durationS, outcome: outcome,
            appointment: try string(.appointment), scheduledFor: scheduledFor,
            location: try string(.location), provider: try string(.provider), amountCents: amountCents,
            message: try string(.message), referrer: try string(.referrer), patient: try string(.patient),
            toAgent: try string(.toAgent), toChannel: toChannel, status: status, consentStatus: consentStatus,
            attrs: attrs)
    }
}

private extension Bool {
    /// Both conditions, both evaluated: cheaper than `&&` where each is a load and a compare.
    @inline(__always) static func & (a: Bool, b: Bool) -> Bool {
        unsafeBitCast(a, to: UInt8.self) & unsafeBitCast(b, to: UInt8.self) != 0
    }
}
