import JourneyCore

/// `segment {as_of?, stage?, risk?, acquisition_channel?, source?, campaign?, min_visits?,
/// max_visits?, last_visit_before?, last_visit_after?, min_value?, referred?, consent?, attr?,
/// limit?, after?}`
/// (SPEC §3.6): one page of the patients meeting every filter given.
public struct SegmentRequest: Sendable, Hashable {
    /// The time of evaluation, epoch ms (nil: the daemon's now).
    public var asOf: Int64?
    /// The filters.
    public var filters: SegmentFilters
    /// The page size, 1 to 10000 (nil: `SegmentQuery.defaultLimit`).
    public var limit: Int?
    /// The `next` cursor of the previous page.
    public var after: String?

    /// A request; a nil member is left out of the line and takes the daemon's default.
    public init(asOf: Int64? = nil, filters: SegmentFilters = SegmentFilters(), limit: Int? = nil, after: String? = nil) {
        self.asOf = asOf
        self.filters = filters
        self.limit = limit
        self.after = after
    }

    /// The query at `now` when the request names no `as_of`.
    ///
    /// - Throws: `bad_request` naming the member at fault.
    public func query(now: Int64) throws(ProtocolError) -> SegmentQuery {
        do {
            return try SegmentQuery(asOf: asOf ?? now, filters: filters, limit: limit ?? SegmentQuery.defaultLimit, after: after)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }

    /// The request line (without its newline), with only the members that are not nil; lists
    /// as arrays of names, `min_value` as an amount with two decimals.
    public var line: [UInt8] {
        RequestFields.line(op: "segment") { w in
            let f = filters
            if let asOf { w.key("as_of"); w.int(asOf) }
            if let s = f.stage { w.key("stage"); w.beginArray(); for x in s { w.string(x.name) }; w.endArray() }
            if let r = f.risk { w.key("risk"); w.beginArray(); for x in r { w.string(x.name) }; w.endArray() }
            if let c = f.acquisitionChannel { w.key("acquisition_channel"); w.string(c.name) }
            if let s = f.source { w.key("source"); w.string(s) }
            if let c = f.campaign { w.key("campaign"); w.string(c) }
            if let n = f.minVisits { w.key("min_visits"); w.int(n) }
            if let n = f.maxVisits { w.key("max_visits"); w.int(n) }
            if let t = f.lastVisitBefore { w.key("last_visit_before"); w.int(t) }
            if let t = f.lastVisitAfter { w.key("last_visit_after"); w.int(t) }
            if let v = f.minValueCents { w.key("min_value"); w.money(cents: v) }
            if let r = f.referred { w.key("referred"); w.bool(r) }
            if let c = f.consent { w.key("consent"); w.string(c.name) }
            if let attrs = f.attrs {
                w.key("attr"); w.beginObject(); for a in attrs { w.key(a.key); w.string(a.value) }; w.endObject()
            }
            if let limit { w.key("limit"); w.int(limit) }
            if let after { w.key("after"); w.string(after) }
        }
    }

    /// Reads every member; each may be absent or `null`. `stage` and `risk` are arrays of names
    /// or one comma-separated string; `min_value` an amount (number or string) with at most two
    /// decimals; `consent` a channel; `attr` an object of key → value strings (or one
    /// `"KEY=VALUE"` string).
    ///
    /// - Throws: `bad_request` naming the member that is wrong.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        asOf = try RequestFields.time(r, "as_of")
        var f = SegmentFilters()
        f.stage = try RequestFields.names(r, "stage", kinds: RequestFields.list(Stage.allCases, \.name)) { s in
            Stage.allCases.first { $0.name == s }
        }
        f.risk = try RequestFields.names(r, "risk", kinds: RequestFields.list(Risk.allCases, \.name)) { s in
            Risk.allCases.first { $0.name == s }
        }
        f.acquisitionChannel = try RequestFields.name(r, "acquisition_channel", kinds: RequestFields.list(Channel.allCases, \.name)) { s in
            Channel.allCases.first { $0.name == s }
        }
        f.source = try RequestFields.string(r, "source")
        f.campaign = try RequestFields.string(r, "campaign")
        f.minVisits = try RequestFields.int(r, "min_visits", in: 0...Int64(Int32.max))
        f.maxVisits = try RequestFields.int(r, "max_visits", in: 0...Int64(Int32.max))
        f.lastVisitBefore = try RequestFields.time(r, "last_visit_before")
        f.lastVisitAfter = try RequestFields.time(r, "last_visit_after")
        if let v = r["min_value"], !v.isNull {
            let literal: String? = switch v {
            case .number(let n): n.hasExponent ? nil : n.literal
            case .string(let s): s
            default: nil
            }
            guard let literal, let cents = SegmentFilters.cents(literal) else {
                throw ProtocolError.badRequest("\"min_value\" must be an amount ≥ 0 with at most 2 decimals")
            }
            f.minValueCents = cents
        }
        f.referred = try RequestFields.bool(r, "referred")
        f.consent = try RequestFields.name(r, "consent", kinds: RequestFields.list(Channel.allCases, \.name)) { s in
            Channel.allCases.first { $0.name == s }
        }
        if let v = r["attr"], !v.isNull {
            var attrs: [Event.Attr] = []
            if let members = v.objectValue {
                for m in members {
                    guard let value = m.value.stringValue else { throw ProtocolError.badRequest("\"attr\": the value of \"\(m.key)\" must be a string") }
                    attrs.append(Event.Attr(key: m.key, value: value))
                }
            } else if let s = v.stringValue, let eq = s.firstIndex(of: "="), eq != s.startIndex {
                attrs.append(Event.Attr(key: String(s[..<eq]), value: String(s[s.index(after: eq)...])))
            } else {
                throw ProtocolError.badRequest("\"attr\" must be an object of KEY: VALUE strings, or one \"KEY=VALUE\"")
            }
            f.attrs = attrs
        }
        filters = f
        limit = try RequestFields.int(r, "limit", in: 1...10_000)
        after = try RequestFields.string(r, "after")
        _ = try query(now: 0)
    }
}
