/// A SPEC §5 object that does not have the shape its reader expects: which member, and why.
package struct ProjectionJSONError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The member at fault, as a path from the object's root (`first_touch.at`, `recent[2].type`).
    package var path: String
    /// What was expected there.
    package var reason: String

    package init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    package var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

extension JourneyState {
    /// Reads the SPEC §5 patient object (what `writeJSON` writes) back into a value.
    ///
    /// Members this reader does not know are ignored (so an answer with `ok` or newer members
    /// reads fine); the derived members (`bookings`, `open_rate`, …) are recomputed from `counts`.
    /// Throws when a member is missing or has the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        let counts = try o.countsObject("counts", names: EventType.allCases.map(\.name))
        let channels = try o.countsObject("channels", names: Channel.allCases.map(\.name))
        self.init(
            patient: try o.string("patient"),
            aliases: try o.strings("aliases"),
            asOf: try o.time("as_of"),
            stage: try o.named("stage", Stage.allCases, \.name),
            risk: try o.namedList("risk", Risk.allCases, \.name),
            firstTouch: try o.optionalObject("first_touch").map { t throws(ProjectionJSONError) in
                FirstTouch(
                    at: try t.time("at"), type: try t.named("type", EventType.allCases, \.name),
                    channel: try t.optionalNamed("channel", Channel.allCases, \.name),
                    source: try t.optionalString("source"), medium: try t.optionalString("medium"),
                    campaign: try t.optionalString("campaign"), term: try t.optionalString("term"))
            },
            lastTouch: try o.optionalObject("last_touch").map { t throws(ProjectionJSONError) in
                LastTouch(
                    at: try t.time("at"), type: try t.named("type", EventType.allCases, \.name),
                    channel: try t.optionalNamed("channel", Channel.allCases, \.name))
            },
            counts: counts,
            channels: channels,
            inquiries: try o.count("inquiries"),
            firstVisitAt: try o.optionalTime("first_visit_at"),
            lastVisitAt: try o.optionalTime("last_visit_at"),
            lifetimeValueCents: try o.money("lifetime_value"),
            messagesOpened: try o.count("messages_opened"),
            referredBy: try o.optionalString("referred_by"),
            referralsMade: try o.count("referrals_made"),
            referralsConverted: try o.count("referrals_converted"))
    }
}

extension HandoffContext {
    /// Reads the SPEC §5 handoff object (what `writeJSON` writes) back into a value.
    ///
    /// Members this reader does not know are ignored. Throws when a member is missing or has
    /// the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var recent: [Recent] = []
        for r in try o.objects("recent") {
            recent.append(Recent(
                at: try r.time("at"), type: try r.named("type", EventType.allCases, \.name),
                channel: try r.optionalNamed("channel", Channel.allCases, \.name),
                agent: try r.optionalString("agent"), concern: try r.optionalString("concern")))
        }
        self.init(
            patient: try o.string("patient"),
            aliases: try o.strings("aliases"),
            asOf: try o.time("as_of"),
            stage: try o.named("stage", Stage.allCases, \.name),
            risk: try o.namedList("risk", Risk.allCases, \.name),
            acquisitionChannel: try o.optionalNamed("acquisition_channel", Channel.allCases, \.name),
            eligibility: try o.string("eligibility"),
            noShows: try o.count("no_shows"),
            cancellations: try o.count("cancellations"),
            referredBy: try o.optionalString("referred_by"),
            consent: try o.consent("consent"),
            conversation: try o.optionalString("conversation"),
            conversationStatus: try o.optionalString("conversation_status"),
            concern: try o.optionalString("concern"),
            channels: try o.namedList("channels", Channel.allCases, \.name),
            contacts: try o.count("contacts"),
            lastAgent: try o.optionalString("last_agent"),
            handoffs: try o.count("handoffs"),
            attrs: try o.optionalStringObject("attrs"),
            upcoming: try o.optionalObject("upcoming").map { u throws(ProjectionJSONError) in
                Upcoming(
                    appointment: try u.optionalString("appointment"), scheduledFor: try u.time("scheduled_for"),
                    location: try u.optionalString("location"), provider: try u.optionalString("provider"))
            },
            recent: recent)
    }
}

extension FunnelReport {
    /// Reads the SPEC §5 funnel object (what `writeJSON` writes) back into a value.
    ///
    /// Members this reader does not know are ignored. Throws when a member is missing or has
    /// the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var groups: [Group] = []
        for g in try o.objects("groups") {
            var steps: [Step] = []
            for s in try g.objects("steps") {
                steps.append(Step(step: try s.string("step"), count: try s.count("count"), medianMs: try s.optionalInteger("median_ms")))
            }
            groups.append(Group(value: try g.optionalString("value"), steps: steps))
        }
        let window = try o.count("window_s")
        guard Int64(window) <= Int64.max / 1000 else { throw ProjectionJSONError(path: "window_s", reason: "out of range") }
        self.init(
            steps: try o.strings("steps"), windowMs: Int64(window) * 1000,
            by: try o.named("by", Breakdown.allCases, \.name), groups: groups)
    }
}

extension ContactsReport {
    /// Reads the SPEC §5 contacts object (what `writeJSON` writes) back into a value.
    ///
    /// Members this reader does not know are ignored. Throws when a member is missing or has
    /// the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var rows: [Row] = []
        for r in try o.objects("channels") {
            rows.append(Row(
                channel: try r.named("channel", Channel.allCases, \.name), conversations: try r.count("conversations"),
                resolved: try r.count("resolved"), firstContactResolved: try r.count("first_contact_resolved"),
                handoffs: try r.count("handoffs")))
        }
        self.init(channels: rows)
    }
}

extension AtRiskPage {
    /// Reads the SPEC §5 at-risk object (what `writeJSON` writes) back into a value.
    ///
    /// Members this reader does not know are ignored. Throws when a member is missing or has
    /// the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var patients: [Entry] = []
        for p in try o.objects("patients") {
            patients.append(Entry(
                patient: try p.string("patient"), stage: try p.named("stage", Stage.allCases, \.name),
                risk: try p.namedList("risk", Risk.allCases, \.name)))
        }
        self.init(asOf: try o.time("as_of"), patients: patients, next: try o.optionalString("next"))
    }
}

/// Typed access to the members of one JSON object, naming the path in every error. SPEC §5
/// objects write every member (absent values as `null`), so a missing member is an error.
struct JSONFields {
    let members: [JSONMember]
    let path: String

    init(_ value: JSONValue, path: String) throws(ProjectionJSONError) {
        guard let members = value.objectValue else {
            throw ProjectionJSONError(path: path, reason: "expected an object")
        }
        self.members = members
        self.path = path
    }

    func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func value(_ key: String) throws(ProjectionJSONError) -> JSONValue {
        guard let m = members.first(where: { $0.key == key }) else {
            throw ProjectionJSONError(path: at(key), reason: "missing")
        }
        return m.value
    }

    /// The member, or nil when it is `null`.
    private func nonNull(_ key: String) throws(ProjectionJSONError) -> JSONValue? {
        let v = try value(key)
        return v.isNull ? nil : v
    }

    func string(_ key: String) throws(ProjectionJSONError) -> String {
        guard let s = try value(key).stringValue else { throw ProjectionJSONError(path: at(key), reason: "expected a string") }
        return s
    }

    func optionalString(_ key: String) throws(ProjectionJSONError) -> String? {
        guard let v = try nonNull(key) else { return nil }
        guard let s = v.stringValue else { throw ProjectionJSONError(path: at(key), reason: "expected a string or null") }
        return s
    }

    func strings(_ key: String) throws(ProjectionJSONError) -> [String] {
        guard let list = try value(key).arrayValue else { throw ProjectionJSONError(path: at(key), reason: "expected an array") }
        var out: [String] = []
        for (i, v) in list.enumerated() {
            guard let s = v.stringValue else { throw ProjectionJSONError(path: "\(at(key))[\(i)]", reason: "expected a string") }
            out.append(s)
        }
        return out
    }

    /// A non-negative integer.
    func count(_ key: String) throws(ProjectionJSONError) -> Int {
        guard let n = try value(key).int64Value, n >= 0, n <= Int64(Int.max) else {
            throw ProjectionJSONError(path: at(key), reason: "expected an integer ≥ 0")
        }
        return Int(n)
    }

    /// An integer, or nil for `null`.
    func optionalInteger(_ key: String) throws(ProjectionJSONError) -> Int64? {
        guard let v = try nonNull(key) else { return nil }
        guard let n = v.int64Value else { throw ProjectionJSONError(path: at(key), reason: "expected an integer or null") }
        return n
    }

    /// An RFC 3339 time (or epoch milliseconds), as milliseconds.
    func time(_ key: String) throws(ProjectionJSONError) -> Int64 {
        let v = try value(key)
        if let ms = v.stringValue.flatMap(Timestamp.parse) ?? v.int64Value { return ms }
        throw ProjectionJSONError(path: at(key), reason: "expected an RFC 3339 time")
    }

    func optionalTime(_ key: String) throws(ProjectionJSONError) -> Int64? {
        guard try nonNull(key) != nil else { return nil }
        return try time(key)
    }

    /// A money amount written with at most two decimals (`120.50`), as cents, read exactly.
    func money(_ key: String) throws(ProjectionJSONError) -> Int64 {
        guard case .number(let n) = try value(key), !n.hasExponent,
              let cents = Self.cents(n.literal)
        else { throw ProjectionJSONError(path: at(key), reason: "expected an amount with at most 2 decimals") }
        return cents
    }

    static func cents(_ literal: String) -> Int64? {
        var digits = Substring(literal)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]), whole >= 0 else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let f = parts[1]
            guard (1...2).contains(f.count), let v = Int64(f), v >= 0 else { return nil }
            fraction = f.count == 1 ? v * 10 : v
        }
        let (scaled, o1) = whole.multipliedReportingOverflow(by: 100)
        let (sum, o2) = scaled.addingReportingOverflow(fraction)
        guard !o1, !o2 else { return nil }
        return negative ? -sum : sum
    }

    /// A string that must be one of `cases`' names.
    func named<T>(_ key: String, _ cases: [T], _ name: (T) -> String) throws(ProjectionJSONError) -> T {
        let s = try string(key)
        guard let c = cases.first(where: { name($0) == s }) else {
            throw ProjectionJSONError(path: at(key), reason: "unknown value \"\(s)\"")
        }
        return c
    }

    func optionalNamed<T>(_ key: String, _ cases: [T], _ name: (T) -> String) throws(ProjectionJSONError) -> T? {
        guard try nonNull(key) != nil else { return nil }
        return try named(key, cases, name)
    }

    func namedList<T>(_ key: String, _ cases: [T], _ name: (T) -> String) throws(ProjectionJSONError) -> [T] {
        var out: [T] = []
        for (i, s) in try strings(key).enumerated() {
            guard let c = cases.first(where: { name($0) == s }) else {
                throw ProjectionJSONError(path: "\(at(key))[\(i)]", reason: "unknown value \"\(s)\"")
            }
            out.append(c)
        }
        return out
    }

    func optionalObject(_ key: String) throws(ProjectionJSONError) -> JSONFields? {
        guard let v = try nonNull(key) else { return nil }
        return try JSONFields(v, path: at(key))
    }

    func objects(_ key: String) throws(ProjectionJSONError) -> [JSONFields] {
        guard let list = try value(key).arrayValue else { throw ProjectionJSONError(path: at(key), reason: "expected an array") }
        var out: [JSONFields] = []
        for (i, v) in list.enumerated() { out.append(try JSONFields(v, path: "\(at(key))[\(i)]")) }
        return out
    }

    /// An object of strings (or null), as entries sorted by key bytes.
    func optionalStringObject(_ key: String) throws(ProjectionJSONError) -> [Event.Attr]? {
        guard let v = try nonNull(key) else { return nil }
        let o = try JSONFields(v, path: at(key))
        var out: [Event.Attr] = []
        for m in o.members { out.append(Event.Attr(key: m.key, value: try o.string(m.key))) }
        return out.sorted { $0.key.bytesLess($1.key) }
    }

    /// An object of channel name → status string.
    func consent(_ key: String) throws(ProjectionJSONError) -> [Channel: String] {
        let o = try JSONFields(try value(key), path: at(key))
        var out: [Channel: String] = [:]
        for m in o.members {
            guard let c = Channel.allCases.first(where: { $0.name == m.key }) else {
                throw ProjectionJSONError(path: o.at(m.key), reason: "not a channel")
            }
            out[c] = try o.string(m.key)
        }
        return out
    }

    /// An object of name → count, as an array indexed like `names`; names it does not list are
    /// ignored, names it lacks count 0.
    func countsObject(_ key: String, names: [String]) throws(ProjectionJSONError) -> [Int] {
        let o = try JSONFields(try value(key), path: at(key))
        var out = [Int](repeating: 0, count: names.count)
        for (i, name) in names.enumerated() where o.members.contains(where: { $0.key == name }) {
            out[i] = try o.count(name)
        }
        return out
    }
}
