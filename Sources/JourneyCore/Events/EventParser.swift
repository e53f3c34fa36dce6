#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses and validates events (SPEC §1): one JSON object per event, strict JSON, only the
/// fields the schema names, every value checked.
///
/// `parse` reads the bytes directly (no intermediate `JSONValue`), which is the import hot path;
/// `validate(object:)` applies the same rules to an already-parsed value (socket batches).
/// Choices where SPEC is silent are documented on `EventLimits` and `Timestamp.parseRFC3339`.
public enum EventParser {
    /// Parses one event from its JSON text (surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(EventError) -> Event {
        let r = bytes.withUnsafeBufferPointer { b in
            Result { () throws(EventError) in try parse(b) }
        }
        return try r.get()
    }

    /// Parses one event from a String's UTF-8.
    public static func parse(_ text: String) throws(EventError) -> Event {
        var t = text
        let r = t.withUTF8 { b in
            Result { () throws(EventError) in try parse(b) }
        }
        return try r.get()
    }

    /// Parses one event from borrowed bytes.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(EventError) -> Event {
        try parse(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Parses one event from borrowed bytes.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(EventError) -> Event {
        var s = JSONScanner(bytes)
        // The 4 KiB limit applies to the event's text without surrounding whitespace.
        s.skipWhitespace()
        let begin = s.pos
        var end = bytes.count
        while end > begin, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x09 {
            end -= 1
        }
        guard end - begin <= EventLimits.maxEventBytes else {
            throw EventError(.tooLarge, "event over 4 KiB", detail: "\(end - begin) bytes")
        }
        guard begin < end else { throw EventError(.invalidJSON, "invalid JSON", detail: "empty input") }
        guard bytes[begin] == UInt8(ascii: "{") else {
            // Say "not an object" only for valid JSON; otherwise report the syntax error.
            do {
                _ = try JSONParser().parse(bytes)
            } catch {
                throw EventError(error)
            }
            throw EventError(.wrongType, "an event must be a JSON object")
        }
        s.pos += 1

        var b = EventBuilder()
        var scratch: [UInt8] = []
        var keyScratch: [UInt8] = []
        // Decoded escaped values go here; allocated only if some value has escapes. Not an
        // array, so no closure has to capture the builder (which would cost a copy per event).
        var decoded: UnsafeMutablePointer<UInt8>? = nil
        defer { decoded?.deallocate() }

        @inline(__always)
        func json<T>(_ body: () throws(JSONParseError) -> T) throws(EventError) -> T {
            do { return try body() } catch { throw EventError(error) }
        }

        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            members: while true {
                s.skipWhitespace()
                guard s.peek() == UInt8(ascii: "\"") else { throw EventError(s.fail("expected a string key")) }
                let kt = try json { () throws(JSONParseError) in try s.scanString() }
                let maybeField: EventField?
                if kt.escaped {
                    keyScratch.removeAll(keepingCapacity: true)
                    s.appendDecoded(kt, to: &keyScratch)
                    maybeField = keyScratch.withUnsafeBufferPointer { EventField.lookup($0) }
                } else {
                    maybeField = EventField.lookup(s.slice(kt.start, kt.end))
                }
                guard let field = maybeField else {
                    var name = [UInt8]()
                    s.appendDecoded(kt, to: &name)
                    throw EventError(.unknownField, "unknown field", field: String(decoding: name, as: UTF8.self),
                                     detail: "extra data belongs in attrs")
                }
                try b.see(field)
                try json { () throws(JSONParseError) in try s.expect(UInt8(ascii: ":"), "':'") }
                s.skipWhitespace()
                guard let c = s.peek() else { throw EventError(s.fail("unexpected end of input, expected a value")) }
                switch c {
                case UInt8(ascii: "\""):
                    let t = try json { () throws(JSONParseError) in try s.scanString() }
                    if t.escaped {
                        if decoded == nil { decoded = .allocate(capacity: bytes.count) }
                        let n = s.decode(t, into: decoded!)
                        try b.setString(field, UnsafeBufferPointer(start: decoded, count: n), scalars: t.scalars)
                    } else {
                        try b.setString(field, s.slice(t.start, t.end), scalars: t.scalars)
                    }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let t = try json { () throws(JSONParseError) in try s.scanNumber() }
                    try b.setNumber(field, s.slice(t.start, t.end), fraction: t.hasFraction, exponent: t.hasExponent)
                case UInt8(ascii: "t"):
                    try json { () throws(JSONParseError) in try s.scanLiteral("true") }
                    try b.setBool(field, true)
                case UInt8(ascii: "f"):
                    try json { () throws(JSONParseError) in try s.scanLiteral("false") }
                    try b.setBool(field, false)
                case UInt8(ascii: "n"):
                    // null is "absent"; a missing required field is reported by finish().
                    try json { () throws(JSONParseError) in try s.scanLiteral("null") }
                case UInt8(ascii: "{"):
                    guard field == .attrs else { throw EventBuilder.wrongType(field, "an object") }
                    try b.setAttrs(try parseAttrs(&s, scratch: &scratch))
                case UInt8(ascii: "["):
                    throw EventBuilder.wrongType(field, "an array")
                default:
                    throw EventError(s.fail("unexpected character, expected a value"))
                }
                s.skipWhitespace()
                guard let d = s.peek() else { throw EventError(s.fail("unexpected end of input in object")) }
                s.pos += 1
                if d == UInt8(ascii: "}") { break members }
                guard d == UInt8(ascii: ",") else { throw EventError(s.fail("expected ',' or '}'", at: s.pos - 1)) }
            }
        }
        s.skipWhitespace()
        guard s.atEnd else { throw EventError(s.fail("unexpected characters after the event object")) }
        return try (consume b).finish()
    }

    /// Parses the `attrs` object at `s.pos` (its `{`): string keys to string values.
    private static func parseAttrs(_ s: inout JSONScanner, scratch: inout [UInt8]) throws(EventError) -> [Event.Attr] {
        func json<T>(_ body: () throws(JSONParseError) -> T) throws(EventError) -> T {
            do { return try body() } catch { throw EventError(error) }
        }
        func string(_ t: JSONScanner.StringToken, _ s: JSONScanner, _ scratch: inout [UInt8]) -> String {
            if !t.escaped { return String(validatedUTF8: s.slice(t.start, t.end)) }
            scratch.removeAll(keepingCapacity: true)
            s.appendDecoded(t, to: &scratch)
            return String(decoding: scratch, as: UTF8.self)
        }
        s.pos += 1
        var attrs: [Event.Attr] = []
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
            return attrs
        }
        while true {
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: "\"") else { throw EventError(s.fail("expected a string key")) }
            let kt = try json { () throws(JSONParseError) in try s.scanString() }
            let key = string(kt, s, &scratch)
            try json { () throws(JSONParseError) in try s.expect(UInt8(ascii: ":"), "':'") }
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: "\"") else {
                if s.peek() == nil { throw EventError(s.fail("unexpected end of input, expected a value")) }
                throw EventError(.wrongType, "attrs values must be strings", field: "attrs", value: key)
            }
            let vt = try json { () throws(JSONParseError) in try s.scanString() }
            attrs.append(Event.Attr(key: key, value: string(vt, s, &scratch)))
            // Stop early so a huge attrs object costs no more than the limit.
            if attrs.count > EventLimits.maxAttrs {
                throw EventError(.tooLarge, "more than \(EventLimits.maxAttrs) entries", field: "attrs")
            }
            s.skipWhitespace()
            guard let d = s.peek() else { throw EventError(s.fail("unexpected end of input in attrs")) }
            s.pos += 1
            if d == UInt8(ascii: "}") { return attrs }
            guard d == UInt8(ascii: ",") else { throw EventError(s.fail("expected ',' or '}'", at: s.pos - 1)) }
        }
    }

    /// Validates an already-parsed JSON value as an event.
    ///
    /// The 4 KiB limit is applied to the value's compact JSON encoding, since the original text
    /// is not at hand.
    package static func validate(object: JSONValue) throws(EventError) -> Event {
        guard case .object(let members) = object else {
            throw EventError(.wrongType, "an event must be a JSON object")
        }
        let size = object.compactSize
        guard size <= EventLimits.maxEventBytes else {
            throw EventError(.tooLarge, "event over 4 KiB", detail: "\(size) bytes encoded")
        }
        var b = EventBuilder()
        for m in members {
            var key = m.key
            guard let field = key.withUTF8({ EventField.lookup($0) }) else {
                throw EventError(.unknownField, "unknown field", field: m.key, detail: "extra data belongs in attrs")
            }
            try b.see(field)
            switch m.value {
            case .null: break
            case .bool(let v): try b.setBool(field, v)
            case .string(var v):
                let r = v.withUTF8 { u in
                    Result { () throws(EventError) in
                        var scalars = 0
                        for byte in u where byte & 0xC0 != 0x80 { scalars += 1 }
                        try b.setString(field, u, scalars: scalars)
                    }
                }
                try r.get()
            case .number(let n):
                var lit = n.literal
                let r = lit.withUTF8 { u in
                    Result { () throws(EventError) in
                        try b.setNumber(field, u, fraction: n.hasFraction, exponent: n.hasExponent)
                    }
                }
                try r.get()
            case .array: throw EventBuilder.wrongType(field, "an array")
            case .object(let o):
                guard field == .attrs else { throw EventBuilder.wrongType(field, "an object") }
                var attrs: [Event.Attr] = []
                for a in o {
                    guard case .string(let v) = a.value else {
                        throw EventError(.wrongType, "attrs values must be strings", field: "attrs", value: a.key)
                    }
                    attrs.append(Event.Attr(key: a.key, value: v))
                }
                try b.setAttrs(attrs)
            }
        }
        return try b.finish()
    }

    /// Validates each element of a batch array, collecting every bad element's error (with its
    /// `index`). A caller appending the batch should append nothing when `errors` is non-empty.
    package static func validate(batch: [JSONValue]) -> (events: [Event], errors: [EventError]) {
        var events: [Event] = []
        var errors: [EventError] = []
        events.reserveCapacity(batch.count)
        for (i, v) in batch.enumerated() {
            do {
                events.append(try validate(object: v))
            } catch {
                var e = error
                e.index = i
                errors.append(e)
            }
        }
        return (events, errors)
    }
}

/// The top-level fields of an event, in SPEC §1 table order (the export order).
enum EventField: Int, CaseIterable {
    case id, type, subject, at, channel, source, medium, campaign, term, agent, conversation,
         concern, resolved, direction, durationS, outcome, appointment, scheduledFor, location,
         provider, amount, message, referrer, patient, toAgent, toChannel, status, attrs

    var name: String {
        switch self {
        case .id: "id"
        case .type: "type"
        case .subject: "subject"
        case .at: "at"
        case .channel: "channel"
        case .source: "source"
        case .medium: "medium"
        case .campaign: "campaign"
        case .term: "term"
        case .agent: "agent"
        case .conversation: "conversation"
        case .concern: "concern"
        case .resolved: "resolved"
        case .direction: "direction"
        case .durationS: "duration_s"
        case .outcome: "outcome"
        case .appointment: "appointment"
        case .scheduledFor: "scheduled_for"
        case .location: "location"
        case .provider: "provider"
        case .amount: "amount"
        case .message: "message"
        case .referrer: "referrer"
        case .patient: "patient"
        case .toAgent: "to_agent"
        case .toChannel: "to_channel"
        case .status: "status"
        case .attrs: "attrs"
        }
    }

    /// The field a key names, nil when the schema does not name it.
    static func lookup(_ key: UnsafeBufferPointer<UInt8>) -> EventField? {
        // By length first, then a byte compare: no tables, no allocation on the hot path.
        let candidate: EventField? = switch key.count {
        case 2: key[0] == UInt8(ascii: "i") ? .id : .at
        case 4: key[0] == UInt8(ascii: "t") && key[1] == UInt8(ascii: "y") ? .type : .term
        case 5: key[0] == UInt8(ascii: "a") && key[1] == UInt8(ascii: "g") ? .agent : .attrs
        case 6:
            switch key[0] {
            case UInt8(ascii: "s"): key[1] == UInt8(ascii: "o") ? .source : .status
            case UInt8(ascii: "m"): .medium
            default: .amount
            }
        case 7:
            switch key[0] {
            case UInt8(ascii: "s"): .subject
            case UInt8(ascii: "o"): .outcome
            case UInt8(ascii: "m"): .message
            case UInt8(ascii: "p"): .patient
            default: key[2] == UInt8(ascii: "a") ? .channel : .concern
            }
        case 8:
            switch key[0] {
            case UInt8(ascii: "c"): .campaign
            case UInt8(ascii: "l"): .location
            case UInt8(ascii: "p"): .provider
            case UInt8(ascii: "t"): .toAgent
            default: key[2] == UInt8(ascii: "s") ? .resolved : .referrer
            }
        case 9: .direction
        case 10: key[0] == UInt8(ascii: "d") ? .durationS : .toChannel
        case 11: .appointment
        case 12: .conversation
        case 13: .scheduledFor
        default: nil
        }
        guard let c = candidate, WireNames.equal(key, c.staticName) else { return nil }
        return c
    }

    /// `name` as a StaticString, for comparing raw bytes without allocating.
    var staticName: StaticString {
        switch self {
        case .id: "id"
        case .type: "type"
        case .subject: "subject"
        case .at: "at"
        case .channel: "channel"
        case .source: "source"
        case .medium: "medium"
        case .campaign: "campaign"
        case .term: "term"
        case .agent: "agent"
        case .conversation: "conversation"
        case .concern: "concern"
        case .resolved: "resolved"
        case .direction: "direction"
        case .durationS: "duration_s"
        case .outcome: "outcome"
        case .appointment: "appointment"
        case .scheduledFor: "scheduled_for"
        case .location: "location"
        case .provider: "provider"
        case .amount: "amount"
        case .message: "message"
        case .referrer: "referrer"
        case .patient: "patient"
        case .toAgent: "to_agent"
        case .toChannel: "to_channel"
        case .status: "status"
        case .attrs: "attrs"
        }
    }

    /// Whether the field holds an id (SPEC §1: no control, bidirectional or zero-width characters).
    var isID: Bool {
        switch self {
        case .id, .subject, .patient, .referrer, .conversation, .appointment, .message: true
        default: false
        }
    }

    /// Longest allowed value in Unicode scalars, for the free-text string fields.
    var maxLength: Int {
        switch self {
        case .id: EventLimits.maxIDLength
        case .subject: EventLimits.maxSubjectLength
        case .concern: EventLimits.maxConcernLength
        default: EventLimits.maxStringLength
        }
    }
}

/// The size limits applied to events (SPEC §1, plus the ones SPEC leaves to us).
public enum EventLimits {
    /// `id`: 1–64 Unicode scalars.
    public static let maxIDLength = 64
    /// `subject`: 1–128 Unicode scalars.
    public static let maxSubjectLength = 128
    /// `concern`: at most 500 Unicode scalars.
    public static let maxConcernLength = 500
    /// Every other string field (`source`, `agent`, `message`, …): at most 256 Unicode scalars
    /// (SPEC names no limit; 256 bounds storage and fits any real id or campaign name).
    public static let maxStringLength = 256
    /// The event's JSON text: at most 4096 bytes.
    public static let maxEventBytes = 4096
    /// `attrs`: at most 16 entries.
    public static let maxAttrs = 16
    /// `attrs`: at most 1024 UTF-8 bytes of keys plus values.
    public static let maxAttrsBytes = 1024
    /// `amount`: at most 10^13 cents (100 billion).
    public static let maxAmountCents: Int64 = 10_000_000_000_000
}

/// Wire-name lookups from raw bytes, so enum fields never allocate a String.
enum WireNames {
    /// True when `b` is exactly the bytes of `s`.
    @inline(__always)
    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard b.count == n, let base = b.baseAddress else { return n == 0 && b.isEmpty }
        return memcmp(base, s.utf8Start, n) == 0
    }

    static func type(_ b: UnsafeBufferPointer<UInt8>) -> EventType? {
        guard b.count >= 4 else { return nil }
        // Candidates by first byte and length, confirmed by a full compare.
        let c: EventType? = switch b[0] {
        case UInt8(ascii: "s"): .searchHit
        case UInt8(ascii: "w"): .webVisit
        case UInt8(ascii: "c"):
            b.count == 12 ? .cancellation : b.count == 7 ? .consent : (b[1] == UInt8(ascii: "a") ? .call : .chat)
        case UInt8(ascii: "f"): .form
        case UInt8(ascii: "m"): b.count == 12 ? .messageSent : .messageOpened
        case UInt8(ascii: "b"): .booking
        case UInt8(ascii: "n"): .noShow
        case UInt8(ascii: "v"): .visit
        case UInt8(ascii: "r"): .referral
        case UInt8(ascii: "i"): .identify
        case UInt8(ascii: "h"): .handoff
        case UInt8(ascii: "e"): .eligibility
        case UInt8(ascii: "u"): .unlink
        default: nil
        }
        guard let c, equal(b, c.staticName) else { return nil }
        return c
    }

    static func channel(_ b: UnsafeBufferPointer<UInt8>) -> Channel? {
        guard b.count >= 3 else { return nil }
        let c: Channel? = switch b[0] {
        case UInt8(ascii: "s"): b.count == 6 ? (b[1] == UInt8(ascii: "e") ? .search : .social) : .sms
        case UInt8(ascii: "w"): .web
        case UInt8(ascii: "r"): .referral
        case UInt8(ascii: "p"): b[1] == UInt8(ascii: "h") ? .phone : .portal
        case UInt8(ascii: "e"): .email
        case UInt8(ascii: "c"): .chat
        case UInt8(ascii: "i"): .inPerson
        default: nil
        }
        guard let c, equal(b, c.staticName) else { return nil }
        return c
    }

    static func outcome(_ b: UnsafeBufferPointer<UInt8>) -> CallOutcome? {
        CallOutcome.allCases.first { equal(b, $0.staticName) }
    }

    static func status(_ b: UnsafeBufferPointer<UInt8>) -> EligibilityStatus? {
        EligibilityStatus.allCases.first { equal(b, $0.staticName) }
    }

    static func consentStatus(_ b: UnsafeBufferPointer<UInt8>) -> ConsentStatus? {
        ConsentStatus.allCases.first { equal(b, $0.staticName) }
    }
}

extension EventType {
    var staticName: StaticString {
        switch self {
        case .searchHit: "search_hit"
        case .webVisit: "web_visit"
        case .call: "call"
        case .chat: "chat"
        case .form: "form"
        case .messageSent: "message_sent"
        case .messageOpened: "message_opened"
        case .booking: "booking"
        case .cancellation: "cancellation"
        case .noShow: "no_show"
        case .visit: "visit"
        case .referral: "referral"
        case .identify: "identify"
        case .handoff: "handoff"
        case .eligibility: "eligibility"
        case .unlink: "unlink"
        case .consent: "consent"
        }
    }
}

extension Channel {
    var staticName: StaticString {
        switch self {
        case .search: "search"
        case .web: "web"
        case .social: "social"
        case .referral: "referral"
        case .phone: "phone"
        case .sms: "sms"
        case .email: "email"
        case .chat: "chat"
        case .portal: "portal"
        case .inPerson: "in_person"
        }
    }
}

extension CallOutcome {
    var staticName: StaticString {
        switch self {
        case .answered: "answered"
        case .abandoned: "abandoned"
        case .missed: "missed"
        case .voicemail: "voicemail"
        }
    }
}

extension EligibilityStatus {
    var staticName: StaticString {
        switch self {
        case .verified: "verified"
        case .pending: "pending"
        case .denied: "denied"
        }
    }
}

extension ConsentStatus {
    var staticName: StaticString { self == .granted ? "granted" : "revoked" }
}

/// Accumulates validated field values of one event; shared by the byte-level parser and the
/// `JSONValue` path so both apply exactly the same rules.
struct EventBuilder {
    var seen: UInt32 = 0
    /// Which of `id`, `type`, `subject`, `at` were given non-null (bits by `EventField`).
    var given: UInt32 = 0
    /// Filled in place, so finishing moves it out without copying.
    var event = EventBuilder.template

    private static let template = Event(id: "", type: .searchHit, subject: "", at: 0)

    @inline(__always)
    private mutating func give(_ field: EventField) {
        given |= 1 << UInt32(field.rawValue)
    }

    @inline(__always)
    private func wasGiven(_ field: EventField) -> Bool {
        given & (1 << UInt32(field.rawValue)) != 0
    }

    /// Marks `field` seen; a second time is a duplicate key.
    @inline(__always)
    mutating func see(_ field: EventField) throws(EventError) {
        let bit: UInt32 = 1 << UInt32(field.rawValue)
        guard seen & bit == 0 else {
            throw EventError(.duplicateKey, "duplicate key", field: field.name)
        }
        seen |= bit
    }

    static func wrongType(_ field: EventField, _ got: String) -> EventError {
        let expected = switch field {
        case .resolved: "a boolean"
        case .durationS: "an integer"
        case .amount: "a number"
        case .at, .scheduledFor: "an RFC 3339 string or integer milliseconds"
        case .attrs: "an object of strings"
        default: "a string"
        }
        return EventError(.wrongType, "expected \(expected), got \(got)", field: field.name)
    }

    /// Sets a string-valued field from decoded UTF-8 with its Unicode scalar count.
    mutating func setString(_ field: EventField, _ b: UnsafeBufferPointer<UInt8>, scalars: Int) throws(EventError) {
        switch field {
        case .type:
            guard let t = WireNames.type(b) else {
                throw EventError(.badValue, "unknown event type", field: "type", value: String(validatedUTF8: b))
            }
            event.type = t
            give(.type)
        case .channel, .toChannel:
            guard let c = WireNames.channel(b) else {
                throw EventError(.badValue, "unknown channel", field: field.name, value: String(validatedUTF8: b))
            }
            if field == .channel { event.channel = c } else { event.toChannel = c }
        case .direction:
            if b.count == 2, b[0] == UInt8(ascii: "i"), b[1] == UInt8(ascii: "n") {
                event.direction = .inbound
            } else if b.count == 3, b[0] == UInt8(ascii: "o"), b[1] == UInt8(ascii: "u"), b[2] == UInt8(ascii: "t") {
                event.direction = .outbound
            } else {
                throw EventError(.badValue, "direction must be \"in\" or \"out\", got", field: "direction", value: String(validatedUTF8: b))
            }
        case .outcome:
            guard let o = WireNames.outcome(b) else {
                throw EventError(.badValue, "unknown call outcome", field: "outcome", value: String(validatedUTF8: b))
            }
            event.outcome = o
        case .status:
            // Which kind of status the event needs depends on its type, which may come later:
            // `finish()` checks the kind.
            if let st = WireNames.status(b) {
                event.status = st
            } else if let st = WireNames.consentStatus(b) {
                event.consentStatus = st
            } else {
                throw EventError(.badValue, "unknown status (verified, pending or denied; granted or revoked for consent)",
                                 field: "status", value: String(validatedUTF8: b))
            }
        case .at, .scheduledFor:
            let ms: Int64
            do {
                ms = try Timestamp.parseRFC3339(b)
            } catch {
                throw EventError(.badTimestamp, "bad timestamp", field: field.name, value: String(validatedUTF8: b), detail: error.reason)
            }
            if field == .at {
                event.at = ms
                give(.at)
            } else {
                event.scheduledFor = ms
            }
        case .resolved, .durationS, .amount, .attrs:
            throw EventBuilder.wrongType(field, "a string")
        default:
            let limit = field.maxLength
            guard scalars <= limit else {
                throw EventError(.tooLong, "longer than \(limit) characters", field: field.name,
                                 value: String(validatedUTF8: b), detail: "\(scalars) characters")
            }
            if scalars == 0, field == .id || field == .subject {
                throw EventError(.badValue, "must not be empty", field: field.name)
            }
            if field.isID, let (scalar, kind) = IdCharacters.firstRefused(b) {
                let hex = String(scalar, radix: 16, uppercase: true)
                throw EventError(.badValue, "an id must not hold \(kind.name) (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex))",
                                 field: field.name, value: String(validatedUTF8: b))
            }
            let s = String(validatedUTF8: b)
            switch field {
            case .id: event.id = s; give(.id)
            case .subject: event.subject = s; give(.subject)
            case .source: event.source = s
            case .medium: event.medium = s
            case .campaign: event.campaign = s
            case .term: event.term = s
            case .agent: event.agent = s
            case .conversation: event.conversation = s
            case .concern: event.concern = s
            case .appointment: event.appointment = s
            case .location: event.location = s
            case .provider: event.provider = s
            case .message: event.message = s
            case .referrer: event.referrer = s
            case .patient: event.patient = s
            case .toAgent: event.toAgent = s
            default: break
            }
        }
    }

    /// Sets a number-valued field from its literal (already valid JSON number grammar).
    mutating func setNumber(_ field: EventField, _ b: UnsafeBufferPointer<UInt8>, fraction: Bool, exponent: Bool) throws(EventError) {
        switch field {
        case .at, .scheduledFor:
            guard !fraction && !exponent else {
                throw EventError(.badTimestamp, "bad timestamp", field: field.name, value: String(validatedUTF8: b),
                                 detail: "epoch milliseconds must be an integer")
            }
            guard let ms = EventBuilder.integer(b), ms >= Timestamp.minMs, ms <= Timestamp.maxMs else {
                throw EventError(.badTimestamp, "bad timestamp", field: field.name, value: String(validatedUTF8: b),
                                 detail: "outside years 0001–9999 UTC")
            }
            if field == .at {
                event.at = ms
                give(.at)
            } else {
                event.scheduledFor = ms
            }
        case .durationS:
            guard !fraction && !exponent else {
                throw EventError(.badValue, "must be a whole number of seconds", field: "duration_s", value: String(validatedUTF8: b))
            }
            guard let v = EventBuilder.integer(b) else {
                throw EventError(.tooLarge, "number too large", field: "duration_s", value: String(validatedUTF8: b))
            }
            guard v >= 0 else {
                throw EventError(.badValue, "must be ≥ 0", field: "duration_s", value: String(validatedUTF8: b))
            }
            event.durationS = v
        case .amount:
            event.amountCents = try EventBuilder.cents(b, exponent: exponent)
        default:
            throw EventBuilder.wrongType(field, "a number")
        }
    }

    /// An integer literal (optional `-`, digits) as Int64; nil on overflow.
    static func integer(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        guard b.count - i <= 18 else { return nil }  // 18 digits always fit in Int64
        var v: Int64 = 0
        while i < b.count {
            v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
            i += 1
        }
        return negative ? -v : v
    }

    /// A money literal as cents: ≥ 0, no exponent, at most 2 decimal places (further zeros are
    /// allowed: `1.500` is 150), at most `maxAmountCents`.
    static func cents(_ b: UnsafeBufferPointer<UInt8>, exponent: Bool) throws(EventError) -> Int64 {
        let text = { String(validatedUTF8: b) }
        guard !exponent else {
            throw EventError(.badValue, "amount must be a plain decimal, without exponent", field: "amount", value: text())
        }
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        var whole: Int64 = 0
        while i < b.count, b[i] != UInt8(ascii: ".") {
            whole = whole * 10 + Int64(b[i] - UInt8(ascii: "0"))
            if whole > LimitsCache.maxWhole {
                throw EventError(.tooLarge, "amount too large", field: "amount", value: text())
            }
            i += 1
        }
        var frac: Int64 = 0
        if i < b.count {
            i += 1  // "."
            var places = 0
            while i < b.count {
                let d = Int64(b[i] - UInt8(ascii: "0"))
                if places < 2 {
                    frac = frac * 10 + d
                } else if d != 0 {
                    throw EventError(.badValue, "amount has more than 2 decimal places", field: "amount", value: text())
                }
                places += 1
                i += 1
            }
            if places == 1 { frac *= 10 }
        }
        let c = whole * 100 + frac
        if negative && c != 0 {
            throw EventError(.badValue, "amount must be ≥ 0", field: "amount", value: text())
        }
        guard c <= EventLimits.maxAmountCents else {
            throw EventError(.tooLarge, "amount too large", field: "amount", value: text())
        }
        return c
    }

    private enum LimitsCache {
        static let maxWhole: Int64 = EventLimits.maxAmountCents / 100
    }

    mutating func setBool(_ field: EventField, _ v: Bool) throws(EventError) {
        guard field == .resolved else { throw EventBuilder.wrongType(field, "a boolean") }
        event.resolved = v
    }

    /// Sets validated `attrs` (any order; sorted and checked for duplicate keys here).
    mutating func setAttrs(_ attrs: [Event.Attr]) throws(EventError) {
        guard attrs.count <= EventLimits.maxAttrs else {
            throw EventError(.tooLarge, "more than \(EventLimits.maxAttrs) entries", field: "attrs")
        }
        var total = 0
        for a in attrs { total += a.key.utf8.count + a.value.utf8.count }
        guard total <= EventLimits.maxAttrsBytes else {
            throw EventError(.tooLarge, "over \(EventLimits.maxAttrsBytes) bytes of keys and values", field: "attrs",
                             detail: "\(total) bytes")
        }
        let sorted = attrs.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        if sorted.count > 1 {
            // Byte equality, the order just sorted by: canonically equivalent spellings of a
            // key ("é", "e\u{301}") are distinct keys, wherever they sort.
            for i in 1..<sorted.count where sorted[i].key.utf8.elementsEqual(sorted[i - 1].key.utf8) {
                throw EventError(.duplicateKey, "duplicate key in attrs", field: "attrs", value: sorted[i].key)
            }
        }
        event.attrs = sorted
    }

    /// Checks required fields (always and by type) and returns the event.
    consuming func finish() throws(EventError) -> Event {
        let required: UInt32 = 0b1111  // id, type, subject, at: the first four fields
        if given & required != required {
            for f in [EventField.id, .type, .subject, .at] where !wasGiven(f) {
                throw EventError(.missingField, "missing required field", field: f.name)
            }
        }
        let type = event.type
        func require(_ v: String?, _ f: EventField) throws(EventError) {
            guard let v else {
                throw EventError(.missingField, "required for type \(type.name)", field: f.name)
            }
            // A link that names nothing would silently join or credit the wrong journey.
            guard !v.isEmpty else {
                throw EventError(.badValue, "must not be empty for type \(type.name)", field: f.name)
            }
        }
        switch type {
        case .messageSent, .messageOpened: try require(event.message, .message)
        case .referral: try require(event.referrer, .referrer)
        case .identify, .unlink: try require(event.patient, .patient)
        case .eligibility:
            if event.status == nil, event.consentStatus == nil {
                throw EventError(.missingField, "required for type eligibility", field: "status")
            }
        case .consent:
            // No default: consent is given for a channel the patient names.
            if event.channel == nil {
                throw EventError(.missingField, "required for type consent", field: "channel")
            }
            if let st = event.status {
                throw EventError(.badValue, "a consent status must be granted or revoked", field: "status", value: st.name)
            }
            if event.consentStatus == nil {
                throw EventError(.missingField, "required for type consent", field: "status")
            }
        default: break
        }
        if type != .consent, let st = event.consentStatus {
            throw EventError(.badValue, "\(st.name) is a consent status; must be verified, pending or denied",
                             field: "status", value: st.name)
        }
        return event
    }
}
