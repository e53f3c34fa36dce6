/// Maps Segment Spec messages (`page`, `identify`, `alias`, `track`) to events (SPEC §7).
///
/// | call | event | subject | more |
/// | --- | --- | --- | --- |
/// | `page` | `web_visit` | `userId`, else `anonymousId` | `context.campaign` → `source` `medium` `campaign` `term`; `name`, `category` and string properties → `attrs` |
/// | `track` | the type `SegmentEventMap` gives the `event` name; unknown names skipped | `userId`, else `anonymousId` | as `page`, and the properties below → fields |
/// | `identify` with `userId` and `anonymousId` | `identify` | `anonymousId` | `patient`: `userId` |
/// | `alias` | `identify` | `previousId` | `patient`: `userId` |
/// | `identify` lacking either id, `screen`, `group` | none (skipped, counted) | | |
///
/// The event's `id` is the `messageId`; `at` is `timestamp`, else `originalTimestamp`, else
/// `receivedAt`, else (over HTTP) the time the message was received. `traits`, `context.traits`,
/// the IP address and the user agent are never read. Track properties that name an event field
/// fill it when the type has it: `appointment` (or `appointment_id`, `appointmentId`),
/// `scheduled_for` (`scheduledFor`), `location`, `provider`, `conversation` (`conversation_id`,
/// `conversationId`), `channel`, `message_id` (`messageId`, `email_id`), `referrer`
/// (`referrer_id`), `amount` (`revenue`), `direction`, `duration_s` (`duration`), `outcome`,
/// `status`. Other string properties go to `attrs` in key order, as many as fit SPEC §1's limits
/// (16 entries, 1 KiB); numbers, booleans and objects are dropped.
package struct SegmentMapping: Sendable {
    /// Track event names → types.
    package var eventMap: SegmentEventMap

    package init(eventMap: SegmentEventMap = .standard) {
        self.eventMap = eventMap
    }

    /// Maps one message.
    ///
    /// - Parameters:
    ///   - callType: the call a single-message endpoint implies (`track` for `/v1/track`): used
    ///     when the message has no `type`, and a different `type` is an error.
    ///   - receivedAt: the time to use when the message carries none.
    /// - Throws: `EventError` naming the message's field and the reason.
    package func map(_ message: JSONValue, callType: String? = nil, receivedAt: Int64? = nil) throws(EventError) -> MappedRecord {
        guard case .object = message else { throw EventError(.wrongType, "a Segment message must be a JSON object") }
        var type = callType
        if let t = message["type"], !t.isNull {
            guard let s = t.stringValue else { throw EventError(.wrongType, "expected a string", field: "type") }
            if let callType, s != callType {
                throw EventError(.badValue, "does not match the endpoint's call \(callType)", field: "type", value: s)
            }
            type = s
        }
        guard let type else { throw EventError(.missingField, "missing required field", field: "type") }
        switch type {
        case "page": return try touch(message, .webVisit, receivedAt: receivedAt)
        case "track":
            let name = try string(message, "event", required: true)!
            guard let mapped = eventMap.type(for: name) else { return MappedRecord(skipped: "track \"\(MappedRecord.printable(Substring(name)))\"") }
            return try touch(message, mapped, receivedAt: receivedAt)
        case "identify":
            guard let user = try id(message, "userId") else { return MappedRecord(skipped: "identify without userId") }
            guard let anonymous = try id(message, "anonymousId") else {
                return MappedRecord(skipped: "identify without anonymousId")
            }
            return try link(message, subject: anonymous, patient: user, receivedAt: receivedAt,
                            sources: ["subject": "anonymousId", "patient": "userId"])
        case "alias":
            guard let previous = try id(message, "previousId") else {
                throw EventError(.missingField, "missing required field", field: "previousId")
            }
            guard let user = try id(message, "userId") else {
                throw EventError(.missingField, "missing required field", field: "userId")
            }
            return try link(message, subject: previous, patient: user, receivedAt: receivedAt,
                            sources: ["subject": "previousId", "patient": "userId"])
        case "screen", "group":
            return MappedRecord(skipped: type)
        default:
            throw EventError(.badValue, "not a Segment call (page, track, identify, alias, screen, group)", field: "type", value: type)
        }
    }

    // MARK: calls

    private func link(_ m: JSONValue, subject: String, patient: String, receivedAt: Int64?,
                      sources: [String: String]) throws(EventError) -> MappedRecord {
        let (at, atField) = try time(m, receivedAt: receivedAt)
        var s = sources
        s["id"] = "messageId"
        s["at"] = atField
        let e = Event(id: try messageID(m), type: .identify, subject: subject, at: at, patient: patient)
        return MappedRecord(events: [try MappedEventCheck.checked(e, sources: s)])
    }

    private func touch(_ m: JSONValue, _ type: EventType, receivedAt: Int64?) throws(EventError) -> MappedRecord {
        var sources = ["id": "messageId"]
        let subject: String
        if let user = try id(m, "userId") {
            subject = user
            sources["subject"] = "userId"
        } else if let anonymous = try id(m, "anonymousId") {
            subject = anonymous
            sources["subject"] = "anonymousId"
        } else {
            throw EventError(.missingField, "a message needs a userId or an anonymousId", field: "userId")
        }
        let (at, atField) = try time(m, receivedAt: receivedAt)
        sources["at"] = atField
        var e = Event(id: try messageID(m), type: type, subject: subject, at: at)
        if let campaign = m["context"]?["campaign"], !campaign.isNull {
            guard case .object = campaign else {
                throw EventError(.wrongType, "expected an object", field: "context.campaign")
            }
            e.source = try string(campaign, "source", path: "context.campaign.source")
            e.medium = try string(campaign, "medium", path: "context.campaign.medium")
            e.campaign = try string(campaign, "name", path: "context.campaign.name")
            e.term = try string(campaign, "term", path: "context.campaign.term")
            for f in ["source", "medium", "campaign", "term"] {
                sources[f] = "context.campaign.\(f == "campaign" ? "name" : f)"
            }
        }
        var extra: [(String, String)] = []
        if type == .webVisit {
            // The page's own name and category, as analytics.js puts them in properties.
            if let name = try string(m, "name") { extra.append(("name", name)) }
            if let category = try string(m, "category") { extra.append(("category", category)) }
        }
        let properties = m["properties"]
        if let properties, !properties.isNull {
            guard let members = properties.objectValue else {
                throw EventError(.wrongType, "expected an object", field: "properties")
            }
            var used: Set<String> = []
            if type != .webVisit { used = try fill(&e, from: properties, sources: &sources) }
            for member in members where !used.contains(member.key) {
                if case .string(let v) = member.value { extra.append((member.key, v)) }
            }
        }
        e.attrs = Self.fitting(extra)
        return MappedRecord(events: [try MappedEventCheck.checked(e, sources: sources)])
    }

    /// Sets the fields of `e` that track properties name (those its type has); returns the keys used.
    private func fill(_ e: inout Event, from p: JSONValue, sources: inout [String: String]) throws(EventError) -> Set<String> {
        var used: Set<String> = []
        /// The first of `keys` given, as a string (an integer is taken as its digits).
        func text(_ keys: [String], field: String) throws(EventError) -> String? {
            for k in keys {
                guard let v = p[k], !v.isNull else { continue }
                used.insert(k)
                sources[field] = "properties.\(k)"
                switch v {
                case .string(let s): return s
                case .number(let n) where n.isInteger: return n.literal
                default: throw EventError(.wrongType, "expected a string", field: "properties.\(k)")
                }
            }
            return nil
        }
        let type = e.type
        let appointmentTypes: Set<EventType> = [.booking, .cancellation, .noShow, .visit]
        if appointmentTypes.contains(type) {
            e.appointment = try text(["appointment", "appointment_id", "appointmentId"], field: "appointment")
        }
        if type == .booking, let t = try text(["scheduled_for", "scheduledFor"], field: "scheduled_for") {
            guard let ms = Timestamp.parse(t) else {
                throw EventError(.badTimestamp, "bad timestamp", field: sources["scheduled_for"], value: t)
            }
            e.scheduledFor = ms
        }
        if type == .booking || type == .visit {
            e.location = try text(["location"], field: "location")
            e.provider = try text(["provider"], field: "provider")
        }
        if type == .visit {
            for k in ["amount", "revenue"] {
                guard let v = p[k], !v.isNull else { continue }
                guard case .number(let n) = v else { throw EventError(.wrongType, "expected a number", field: "properties.\(k)") }
                var literal = n.literal
                let r = literal.withUTF8 { b in
                    Result { () throws(EventError) in try EventBuilder.cents(b, exponent: n.hasExponent) }
                }
                do { e.amountCents = try r.get() } catch {
                    var err = error
                    err.field = "properties.\(k)"
                    throw err
                }
                used.insert(k)
                break
            }
        }
        e.conversation = try text(["conversation", "conversation_id", "conversationId"], field: "conversation")
        if let c = try text(["channel"], field: "channel") {
            guard let channel = Channel(name: c) else {
                throw EventError(.badValue, "not a channel", field: "properties.channel", value: c)
            }
            e.channel = channel
        }
        if type == .messageSent || type == .messageOpened {
            e.message = try text(["message_id", "messageId", "email_id"], field: "message")
        }
        if type == .referral { e.referrer = try text(["referrer", "referrer_id"], field: "referrer") }
        if type == .call {
            if let d = try text(["direction"], field: "direction") {
                guard let direction = Direction(name: d) else {
                    throw EventError(.badValue, "expected in or out", field: "properties.direction", value: d)
                }
                e.direction = direction
            }
            for k in ["duration_s", "duration"] {
                guard let v = p[k], !v.isNull else { continue }
                guard let s = v.int64Value, s >= 0 else {
                    throw EventError(.badValue, "expected whole seconds ≥ 0", field: "properties.\(k)")
                }
                e.durationS = s
                used.insert(k)
                break
            }
            if let o = try text(["outcome"], field: "outcome") {
                guard let outcome = CallOutcome(name: o) else {
                    throw EventError(.badValue, "not a call outcome", field: "properties.outcome", value: o)
                }
                e.outcome = outcome
            }
        }
        if type == .eligibility, let s = try text(["status"], field: "status") {
            guard let status = EligibilityStatus(name: s) else {
                throw EventError(.badValue, "not an eligibility status", field: "properties.status", value: s)
            }
            e.status = status
        }
        return used
    }

    // MARK: fields

    /// String entries for `attrs`, in key order, as many as fit: at most 16, at most 1 KiB of
    /// keys and values (an entry that would pass the limit is left out; later, smaller ones may fit).
    static func fitting(_ entries: [(String, String)]) -> [Event.Attr] {
        var seen: Set<String> = []
        let sorted = entries.filter { seen.insert($0.0).inserted }.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var out: [Event.Attr] = []
        var total = 0
        for (k, v) in sorted where out.count < EventLimits.maxAttrs {
            let n = k.utf8.count + v.utf8.count
            guard total + n <= EventLimits.maxAttrsBytes else { continue }
            total += n
            out.append(Event.Attr(key: k, value: v))
        }
        return out
    }

    private func messageID(_ m: JSONValue) throws(EventError) -> String {
        guard let id = try string(m, "messageId") else {
            throw EventError(.missingField, "missing required field", field: "messageId")
        }
        return id
    }

    /// An id field: a non-empty string, or an integer taken as its digits; nil when absent.
    private func id(_ m: JSONValue, _ field: String) throws(EventError) -> String? {
        guard let v = m[field], !v.isNull else { return nil }
        switch v {
        case .string(let s): return s.isEmpty ? nil : s
        case .number(let n) where n.isInteger: return n.literal
        default: throw EventError(.wrongType, "expected a string", field: field)
        }
    }

    /// A string field; nil when absent or null.
    private func string(_ m: JSONValue, _ field: String, path: String? = nil, required: Bool = false) throws(EventError) -> String? {
        guard let v = m[field], !v.isNull else {
            if required { throw EventError(.missingField, "missing required field", field: path ?? field) }
            return nil
        }
        guard let s = v.stringValue else { throw EventError(.wrongType, "expected a string", field: path ?? field) }
        if required && s.isEmpty { throw EventError(.badValue, "must not be empty", field: path ?? field) }
        return s
    }

    /// The message's time and the field it came from.
    private func time(_ m: JSONValue, receivedAt: Int64?) throws(EventError) -> (Int64, String) {
        for f in ["timestamp", "originalTimestamp", "receivedAt"] {
            guard let v = m[f], !v.isNull else { continue }
            guard let s = v.stringValue else { throw EventError(.wrongType, "expected an ISO 8601 string", field: f) }
            let r = s.utf8.withContiguousStorageIfAvailable { b in
                Result { () throws(Timestamp.ParseError) in try Timestamp.parseRFC3339(b) }
            } ?? .failure(Timestamp.ParseError("not contiguous"))
            switch r {
            case .success(let ms): return (ms, f)
            case .failure(let e): throw EventError(.badTimestamp, "bad timestamp", field: f, value: s, detail: e.reason)
            }
        }
        if let receivedAt { return (receivedAt, "timestamp") }
        throw EventError(.missingField, "missing: the time is taken from timestamp, else originalTimestamp, else receivedAt",
                         field: "timestamp")
    }
}
