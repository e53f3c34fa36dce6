#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventRecord {
    /// Parses one event's JSON text straight into its stored record, appended to `out`, with no
    /// `Event` (and no `String`) in between: the import's hot path.
    ///
    /// It only ever accepts: it answers false, leaving `out` as it was, for anything it does not
    /// handle (escapes in strings or keys) and for every invalid event, which then takes the
    /// general path (`EventParser.parse`, then `encode`) for its error message. When it answers
    /// true, the general path accepts the same text and encodes the event to the same bytes
    /// (checked by the `event` fuzz target and `FastRecordParseTests`).
    package static func appendParsing(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
        var p = FastRecordParser()
        guard p.parse(bytes) else { return false }
        p.write(to: &out)
        return true
    }
}

/// The state of one `EventRecord.appendParsing`: scalar fields as they go into the record,
/// string fields as byte ranges of the event's text.
private struct FastRecordParser {
    typealias R = EventRecord

    /// The event's text without surrounding whitespace (at most 4 KiB, so offsets fit 16 bits).
    var text = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    var seen: UInt32 = 0
    /// Which of id, type, subject, at were given non-null (bits by `EventField`).
    var given: UInt32 = 0
    var type: UInt8 = 0
    var flags: UInt8 = 0
    var ints: UInt8 = 0
    /// Raw values of channel, direction, outcome, to_channel, status.
    var channel: UInt8 = 0, direction: UInt8 = 0, outcome: UInt8 = 0, toChannel: UInt8 = 0, status: UInt8 = 0
    var at: Int64 = 0, durationS: Int64 = 0, scheduledFor: Int64 = 0, amount: Int64 = 0
    /// Presence bits of the string fields, by `StringField`.
    var present: UInt16 = 0
    /// Each string field's range in `text`, as start << 16 | end, by `StringField`.
    var strings: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                  UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// Attributes as key start << 48 | key end << 32 | value start << 16 | value end, sorted
    /// by key once parsed.
    var attrs: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var attrCount = 0
    /// Bytes of the string fields, then of the attributes' keys and values.
    var stringBytes = 0
    var attrBytes = 0

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Parses and validates `bytes` as `EventParser.parse` does; false for anything it declines.
    mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var begin = 0
        while begin < bytes.count, Self.isSpace(bytes[begin]) { begin += 1 }
        var end = bytes.count
        while end > begin, Self.isSpace(bytes[end - 1]) { end -= 1 }
        guard begin < end, end - begin <= EventLimits.maxEventBytes, bytes[begin] == UInt8(ascii: "{") else { return false }
        text = UnsafeBufferPointer(rebasing: bytes[begin..<end])
        var s = JSONScanner(text)
        s.pos = 1
        s.skipWhitespace()
        // `{}` lacks the required fields.
        guard s.peek() == UInt8(ascii: "\"") else { return false }
        while true {
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: "\""), let kt = try? s.scanString(), !kt.escaped,
                  let field = EventField.lookup(s.slice(kt.start, kt.end)) else { return false }
            let bit: UInt32 = 1 << UInt32(field.rawValue)
            guard seen & bit == 0 else { return false }
            seen |= bit
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: ":") else { return false }
            s.pos += 1
            s.skipWhitespace()
            guard let c = s.peek() else { return false }
            switch c {
            case UInt8(ascii: "\""):
                guard let t = try? s.scanString(), !t.escaped, setString(field, t) else { return false }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let t = try? s.scanNumber(),
                      setNumber(field, s.slice(t.start, t.end), fraction: t.hasFraction, exponent: t.hasExponent)
                else { return false }
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                let value = c == UInt8(ascii: "t")
                guard field == .resolved, (try? s.scanLiteral(value ? "true" : "false")) != nil else { return false }
                flags |= R.flagResolved | (value ? R.flagResolvedValue : 0)
            case UInt8(ascii: "n"):
                // null is "absent", as on the general path.
                guard (try? s.scanLiteral("null")) != nil else { return false }
            case UInt8(ascii: "{"):
                guard field == .attrs, parseAttrs(&s) else { return false }
            default:
                return false
            }
            s.skipWhitespace()
            guard let d = s.peek() else { return false }
            s.pos += 1
            if d == UInt8(ascii: "}") { break }
            guard d == UInt8(ascii: ",") else { return false }
        }
        // The object must end the text (which has no trailing whitespace).
        guard s.atEnd else { return false }
        return finish()
    }

    /// The required fields, always and by type (as `EventBuilder.finish`).
    private func finish() -> Bool {
        guard given & 0b1111 == 0b1111 else { return false }
        func nonEmpty(_ f: R.StringField) -> Bool {
            guard present & (1 << UInt16(f.rawValue)) != 0 else { return false }
            let r = range(f)
            return r.upperBound > r.lowerBound
        }
        // A consent's status is a consent status (3-4), every other type's an eligibility one.
        let isConsent = type == EventType.consent.rawValue
        guard flags & R.flagStatus == 0 || (status >= ConsentStatus.granted.rawValue) == isConsent else { return false }
        switch EventType(rawValue: type)! {
        case .messageSent, .messageOpened: return nonEmpty(.message)
        case .referral: return nonEmpty(.referrer)
        case .identify, .unlink: return nonEmpty(.patient)
        case .eligibility: return flags & R.flagStatus != 0
        case .consent: return flags & R.flagChannel != 0 && flags & R.flagStatus != 0
        default: return true
        }
    }

    private func range(_ f: R.StringField) -> Range<Int> {
        let v = withUnsafeBytes(of: strings) { $0.load(fromByteOffset: 4 * f.rawValue, as: UInt32.self) }
        return Int(v >> 16)..<Int(v & 0xFFFF)
    }

    private mutating func setRange(_ f: R.StringField, _ start: Int, _ end: Int) {
        let v = UInt32(start) << 16 | UInt32(end)
        withUnsafeMutableBytes(of: &strings) { $0.storeBytes(of: v, toByteOffset: 4 * f.rawValue, as: UInt32.self) }
    }

    /// As `EventBuilder.setString`, for an unescaped string token.
    private mutating func setString(_ field: EventField, _ t: JSONScanner.StringToken) -> Bool {
        let b = UnsafeBufferPointer(rebasing: text[t.start..<t.end])
        switch field {
        case .type:
            guard let v = WireNames.type(b) else { return false }
            type = v.rawValue
            given |= 1 << UInt32(EventField.type.rawValue)
        case .channel:
            guard let v = WireNames.channel(b) else { return false }
            channel = v.rawValue
            flags |= R.flagChannel
        case .toChannel:
            guard let v = WireNames.channel(b) else { return false }
            toChannel = v.rawValue
            flags |= R.flagToChannel
        case .direction:
            if b.count == 2, b[0] == UInt8(ascii: "i"), b[1] == UInt8(ascii: "n") {
                direction = Direction.inbound.rawValue
            } else if b.count == 3, b[0] == UInt8(ascii: "o"), b[1] == UInt8(ascii: "u"), b[2] == UInt8(ascii: "t") {
                direction = Direction.outbound.rawValue
            } else {
                return false
            }
            flags |= R.flagDirection
        case .outcome:
            guard let v = WireNames.outcome(b) else { return false }
            outcome = v.rawValue
            flags |= R.flagOutcome
        case .status:
            // Either kind; `finish` checks it fits the type.
            guard let v = WireNames.status(b)?.rawValue ?? WireNames.consentStatus(b)?.rawValue else { return false }
            status = v
            flags |= R.flagStatus
        case .at, .scheduledFor:
            guard let ms = try? Timestamp.parseRFC3339(b) else { return false }
            setTime(field, ms)
        case .resolved, .durationS, .amount, .attrs:
            return false
        default:
            guard t.scalars <= field.maxLength, let f = Self.stringField(field) else { return false }
            if t.scalars == 0, field == .id || field == .subject { return false }
            // An id holding a refused character takes the general path, which names it.
            if field.isID, IdCharacters.firstRefused(b) != nil { return false }
            present |= 1 << UInt16(f.rawValue)
            setRange(f, t.start, t.end)
            stringBytes += t.end - t.start
            if field == .id || field == .subject { given |= 1 << UInt32(field.rawValue) }
        }
        return true
    }

    private mutating func setTime(_ field: EventField, _ ms: Int64) {
        if field == .at {
            at = ms
            given |= 1 << UInt32(EventField.at.rawValue)
        } else {
            scheduledFor = ms
            ints |= R.intScheduledFor
        }
    }

    /// As `EventBuilder.setNumber`.
    private mutating func setNumber(_ field: EventField, _ b: UnsafeBufferPointer<UInt8>, fraction: Bool, exponent: Bool) -> Bool {
        switch field {
        case .at, .scheduledFor:
            guard !fraction, !exponent, let ms = EventBuilder.integer(b), ms >= Timestamp.minMs, ms <= Timestamp.maxMs
            else { return false }
            setTime(field, ms)
        case .durationS:
            guard !fraction, !exponent, let v = EventBuilder.integer(b), v >= 0 else { return false }
            durationS = v
            ints |= R.intDuration
        case .amount:
            guard let v = try? EventBuilder.cents(b, exponent: exponent) else { return false }
            amount = v
            ints |= R.intAmount
        default:
            return false
        }
        return true
    }

    /// As `EventParser.parseAttrs` then `EventBuilder.setAttrs`, for unescaped keys and values.
    private mutating func parseAttrs(_ s: inout JSONScanner) -> Bool {
        s.pos += 1
        attrCount = 0
        attrBytes = 0
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
            return true
        }
        while true {
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: "\""), let k = try? s.scanString(), !k.escaped else { return false }
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: ":") else { return false }
            s.pos += 1
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: "\""), let v = try? s.scanString(), !v.escaped,
                  attrCount < EventLimits.maxAttrs else { return false }
            let entry = UInt64(k.start) << 48 | UInt64(k.end) << 32 | UInt64(v.start) << 16 | UInt64(v.end)
            withUnsafeMutableBytes(of: &attrs) { $0.storeBytes(of: entry, toByteOffset: 8 * attrCount, as: UInt64.self) }
            attrCount += 1
            attrBytes += k.end - k.start + v.end - v.start
            s.skipWhitespace()
            guard let d = s.peek() else { return false }
            s.pos += 1
            if d == UInt8(ascii: "}") { break }
            guard d == UInt8(ascii: ",") else { return false }
        }
        guard attrBytes <= EventLimits.maxAttrsBytes else { return false }
        // Sort by key bytes (insertion sort: at most 16 entries); a repeated key is refused.
        let text = text
        func key(_ e: UInt64) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: text[Int(e >> 48)..<Int(e >> 32 & 0xFFFF)])
        }
        return withUnsafeMutableBytes(of: &attrs) { raw -> Bool in
            let a = raw.bindMemory(to: UInt64.self)
            for i in 1..<Swift.max(attrCount, 1) {
                let e = a[i]
                var j = i
                while j > 0, key(e).lexicographicallyPrecedes(key(a[j - 1])) {
                    a[j] = a[j - 1]
                    j -= 1
                }
                a[j] = e
            }
            for i in 1..<Swift.max(attrCount, 1) where key(a[i]).elementsEqual(key(a[i - 1])) { return false }
            return true
        }
    }

    /// The stored string field of an event field; nil for the others.
    private static func stringField(_ f: EventField) -> R.StringField? {
        switch f {
        case .id: .id
        case .subject: .subject
        case .source: .source
        case .medium: .medium
        case .campaign: .campaign
        case .term: .term
        case .agent: .agent
        case .conversation: .conversation
        case .concern: .concern
        case .appointment: .appointment
        case .location: .location
        case .provider: .provider
        case .message: .message
        case .referrer: .referrer
        case .patient: .patient
        case .toAgent: .toAgent
        default: nil
        }
    }

    /// Appends the record (the layout `EventRecord.encode` writes).
    func write(to out: inout [UInt8]) {
        let tableStart = R.headerSize + 8 * ints.nonzeroBitCount
        let size = tableStart + R.tableSize + stringBytes + 4 * attrCount + attrBytes
        // Built in scratch memory then copied in one go: cheaper than growing `out` by zeros.
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { r in
            // Every store below is inside the `size` bytes; the header and table are written
            // in full, the strings and attributes fill the rest exactly.
            let src = UnsafeRawBufferPointer(text)
            r[0] = R.formatVersion
            r[1] = type
            r[2] = flags
            r[3] = ints
            r[4] = channel
            r[5] = direction
            r[6] = outcome
            r[7] = toChannel
            r[8] = status
            r[9] = UInt8(attrCount)
            r.storeBytes(of: present.littleEndian, toByteOffset: 10, as: UInt16.self)
            r.storeBytes(of: UInt64(bitPattern: at).littleEndian, toByteOffset: 12, as: UInt64.self)
            var o = R.headerSize
            // The present optional integers, in int-flag bit order.
            func putInt(_ bit: UInt8, _ v: Int64) {
                guard ints & bit != 0 else { return }
                r.storeBytes(of: UInt64(bitPattern: v).littleEndian, toByteOffset: o, as: UInt64.self)
                o += 8
            }
            putInt(R.intDuration, durationS)
            putInt(R.intScheduledFor, scheduledFor)
            putInt(R.intAmount, amount)
            var cursor = tableStart + R.tableSize
            for i in 0..<R.stringFieldCount {
                if present & (1 << UInt16(i)) != 0 {
                    let range = self.range(R.StringField(rawValue: i)!)
                    let n = range.count
                    if n > 0 { (r.baseAddress! + cursor).copyMemory(from: src.baseAddress! + range.lowerBound, byteCount: n) }
                    cursor += n
                }
                r.storeBytes(of: UInt16(cursor).littleEndian, toByteOffset: tableStart + 2 * i, as: UInt16.self)
            }
            withUnsafeBytes(of: attrs) { raw in
                for i in 0..<attrCount {
                    let e = raw.load(fromByteOffset: 8 * i, as: UInt64.self)
                    let k = Int(e >> 48)..<Int(e >> 32 & 0xFFFF), v = Int(e >> 16 & 0xFFFF)..<Int(e & 0xFFFF)
                    r.storeBytes(of: UInt16(k.count).littleEndian, toByteOffset: cursor, as: UInt16.self)
                    r.storeBytes(of: UInt16(v.count).littleEndian, toByteOffset: cursor + 2, as: UInt16.self)
                    cursor += 4
                    if !k.isEmpty { (r.baseAddress! + cursor).copyMemory(from: src.baseAddress! + k.lowerBound, byteCount: k.count) }
                    cursor += k.count
                    if !v.isEmpty { (r.baseAddress! + cursor).copyMemory(from: src.baseAddress! + v.lowerBound, byteCount: v.count) }
                    cursor += v.count
                }
            }
            out.append(contentsOf: UnsafeRawBufferPointer(r))
        }
    }
}
