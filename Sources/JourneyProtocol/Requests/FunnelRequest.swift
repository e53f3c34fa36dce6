import JourneyCore

/// `funnel {steps?, window_s?, by?, from?, to?}` (SPEC §3.4); absent members take the default
/// funnel's.
public struct FunnelRequest: Sendable, Hashable {
    /// The steps (nil: `touch → inquiry → booking → visit`).
    public var steps: [FunnelStep]?
    /// The conversion window in seconds (nil: 30 days).
    public var windowS: Int64?
    /// The breakdown (nil: channel).
    public var by: Breakdown?
    /// The entry filter `[from, to)`, epoch ms.
    public var from: Int64?
    /// The end of the entry filter `[from, to)`, epoch ms, exclusive (nil: no upper bound).
    public var to: Int64?

    /// A funnel request; each nil member is left out of the line and takes the default funnel's
    /// value.
    public init(steps: [FunnelStep]? = nil, windowS: Int64? = nil, by: Breakdown? = nil, from: Int64? = nil, to: Int64? = nil) {
        self.steps = steps
        self.windowS = windowS
        self.by = by
        self.from = from
        self.to = to
    }

    /// The query this request asks, defaults filled in.
    ///
    /// - Throws: `bad_request` when the funnel is not one (SPEC §3.4: 2–10 steps, …).
    public func query() throws(ProtocolError) -> FunnelQuery {
        do {
            return try FunnelQuery(
                steps: steps ?? FunnelQuery.defaultSteps, windowMs: windowS.map { $0 * 1000 } ?? FunnelQuery.defaultWindowMs,
                by: by ?? .channel, from: from, to: to)
        } catch {
            throw ProtocolError.badRequest(error.description)
        }
    }

    /// The request line (without its newline): `{"op":"funnel","steps"?,"window_s"?,"by"?,"from"?,"to"?}`,
    /// with `steps` as an array of step names, `by` as the breakdown's name, and only the members
    /// that are not nil.
    public var line: [UInt8] {
        RequestFields.line(op: "funnel") { w in
            if let steps {
                w.key("steps")
                w.beginArray()
                for s in steps { w.string(s.name) }
                w.endArray()
            }
            if let windowS { w.key("window_s"); w.int(windowS) }
            if let by { w.key("by"); w.string(by.name) }
            if let from { w.key("from"); w.int(from) }
            if let to { w.key("to"); w.int(to) }
        }
    }

    /// Reads the request; `steps` may be an array of names or one comma-separated string.
    /// Checks the whole query, so a decoded request always has one.
    public init(decoding r: JSONValue) throws(ProtocolError) {
        if let v = r["steps"], !v.isNull {
            let names: [String]
            if let s = v.stringValue {
                names = s.split(separator: ",").map { String($0) }
            } else if let a = v.arrayValue {
                var out: [String] = []
                for x in a {
                    guard let s = x.stringValue else { throw ProtocolError.badRequest("\"steps\" must be strings") }
                    out.append(s)
                }
                names = out
            } else {
                throw ProtocolError.badRequest("\"steps\" must be an array of step names")
            }
            var parsed: [FunnelStep] = []
            for n in names {
                guard let s = FunnelStep(name: n) else {
                    throw ProtocolError.badRequest("unknown funnel step \(Quote.short(n)): use touch, inquiry, contact or an event type")
                }
                parsed.append(s)
            }
            steps = parsed
        }
        if let w = try RequestFields.int(r, "window_s") {
            guard w >= 0, w <= Int64.max / 1000 else { throw ProtocolError.badRequest("\"window_s\" must be ≥ 0") }
            windowS = w
        }
        if let b = try RequestFields.string(r, "by") {
            guard let parsed = Breakdown(name: b) else {
                throw ProtocolError.badRequest("unknown breakdown \(Quote.short(b)): use channel, source, medium, campaign, term, type, location, provider or none")
            }
            by = parsed
        }
        from = try RequestFields.time(r, "from")
        to = try RequestFields.time(r, "to")
        _ = try query()
    }
}
