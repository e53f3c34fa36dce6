/// One step of a funnel (SPEC §3.4).
public enum FunnelStep: Sendable, Hashable {
    /// Any touch.
    case touch
    /// A chat, a form, or a call not outbound.
    case inquiry
    /// A call, a chat or a form, whatever its direction.
    case contact
    /// An event of this type.
    case type(EventType)

    /// The name used in queries and reports: `touch`, `inquiry`, `contact` or the type name.
    public var name: String {
        switch self {
        case .touch: "touch"
        case .inquiry: "inquiry"
        case .contact: "contact"
        case .type(let t): t.name
        }
    }

    /// Parses a step name; nil when unknown.
    public init?(name: String) {
        switch name {
        case "touch": self = .touch
        case "inquiry": self = .inquiry
        case "contact": self = .contact
        default:
            guard let t = EventType(name: name) else { return nil }
            self = .type(t)
        }
    }

    func matches(_ f: Fact) -> Bool {
        switch self {
        case .touch: f.type.isTouch
        case .inquiry: f.isInquiry
        case .contact: f.type.isContact
        case .type(let t): f.type == t
        }
    }
}

/// The event property a funnel (by its entry event) or a trends report (by each counted event)
/// is broken down by.
public enum Breakdown: String, Sendable, Hashable, CaseIterable {
    /// By the entry event's channel (its own or its type's default).
    case channel
    /// By the entry event's `source`.
    case source
    /// By the entry event's `medium`.
    case medium
    /// By the entry event's `campaign`.
    case campaign
    /// By the entry event's `term`.
    case term
    /// By the entry event's type.
    case type
    /// By the entry event's `location` (a booking's or a visit's).
    case location
    /// By the entry event's `provider` (a booking's or a visit's).
    case provider
    /// No breakdown: one group.
    case none

    /// The name used in queries and reports.
    public var name: String { rawValue }

    /// Parses a breakdown name; nil when unknown.
    public init?(name: String) { self.init(rawValue: name) }
}

/// Why a funnel query was refused.
public struct FunnelQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the query.
    public var description: String
}

/// A funnel question (SPEC §3.4): ordered steps, a conversion window, a breakdown and an
/// optional entry-time filter `from ≤ entry.at < to`.
public struct FunnelQuery: Sendable, Hashable {
    /// The default steps: touch → inquiry → booking → visit.
    public static let defaultSteps: [FunnelStep] = [.touch, .inquiry, .type(.booking), .type(.visit)]
    /// The default window, 30 days.
    public static let defaultWindowMs: Int64 = 30 * 86_400_000

    /// The ordered steps (2–10).
    public private(set) var steps: [FunnelStep]
    /// The conversion window, in ms (inclusive).
    public private(set) var windowMs: Int64
    /// The breakdown property.
    public var by: Breakdown
    /// Entries at or after this time count (ms).
    public var from: Int64?
    /// Entries before this time count (ms).
    public var to: Int64?

    /// The default funnel: touch → inquiry → booking → visit, 30 days, by channel.
    public init() {
        steps = FunnelQuery.defaultSteps
        windowMs = FunnelQuery.defaultWindowMs
        by = .channel
    }

    /// A validated funnel query: 2–10 steps and a window ≥ 0.
    public init(
        steps: [FunnelStep] = FunnelQuery.defaultSteps, windowMs: Int64 = FunnelQuery.defaultWindowMs,
        by: Breakdown = .channel, from: Int64? = nil, to: Int64? = nil
    ) throws(FunnelQueryError) {
        guard (2...10).contains(steps.count) else {
            throw FunnelQueryError(description: "a funnel needs 2 to 10 steps, got \(steps.count)")
        }
        guard windowMs >= 0 else {
            throw FunnelQueryError(description: "the window must be ≥ 0, got \(windowMs) ms")
        }
        self.steps = steps
        self.windowMs = windowMs
        self.by = by
        self.from = from
        self.to = to
    }
}

/// The answer to a funnel query (SPEC §5).
public struct FunnelReport: Sendable, Hashable {
    /// One step's result within a group.
    public struct Step: Sendable, Hashable {
        /// The step name.
        public var step: String
        /// Clusters whose chosen attempt reached this step.
        public var count: Int
        /// Median gap from the previous step; nil for step 1 or when no one reached it.
        public var medianMs: Int64?
    }
    /// The clusters whose chosen entry had one breakdown value.
    public struct Group: Sendable, Hashable {
        /// The breakdown value; nil for a missing value (and for `none`).
        public var value: String?
        /// Per step, in funnel order.
        public var steps: [Step]
    }

    /// The step names.
    public var steps: [String]
    /// The conversion window, in ms (inclusive).
    public var windowMs: Int64
    /// The breakdown property.
    public var by: Breakdown
    /// Groups by entry count, descending, then value bytes, null last.
    public var groups: [Group]

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("steps"); w.beginArray(); for s in steps { w.string(s) }; w.endArray()
        w.key("window_s"); w.int(windowMs / 1000)
        w.key("by"); w.string(by.name)
        w.key("groups")
        w.beginArray()
        for g in groups {
            w.beginObject()
            w.key("value"); w.string(g.value)
            w.key("steps")
            w.beginArray()
            for s in g.steps {
                w.beginObject()
                w.key("step"); w.string(s.step)
                w.key("count"); w.int(s.count)
                w.key("median_ms")
                if let m = s.medianMs { w.int(m) } else { w.null() }
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }
}

extension Projector {
    /// Evaluates a funnel over every cluster (SPEC §3.4).
    package func funnel(_ q: FunnelQuery) -> FunnelReport {
        let n = q.steps.count
        // Group key: interned value (values table) or channel/type raw value; -1 = null.
        var groupIndex: [Int64: Int] = [:]
        var groupKeys: [Int64] = []
        var counts: [[Int]] = []
        var gaps: [[[Int64]]] = []
        var reachedAt = [Int](repeating: 0, count: n)
        var best = [Int](repeating: 0, count: n)

        var facts: [Fact] = []
        for root in roots {
            clusters[Int(root)].decodeFacts(into: &facts)
            if facts.isEmpty { continue }
            var bestSteps = 0
            for e in facts.indices {
                let entry = facts[e]
                guard q.steps[0].matches(entry) else { continue }
                if let from = q.from, entry.at < from { continue }
                if let to = q.to, entry.at >= to { continue }
                reachedAt[0] = e
                var k = 1
                var j = e + 1
                while k < n {
                    // The event that reached step k − 1 reaches step k too when it matches it
                    // and none of the steps it reached has the same definition (SPEC §3.4 v2);
                    // it is in the window already.
                    let previous = reachedAt[k - 1]
                    if q.steps[k].matches(facts[previous]) {
                        var repeated = false
                        var s = k - 1
                        while s >= 0 && reachedAt[s] == previous {
                            if q.steps[s] == q.steps[k] { repeated = true; break }
                            s -= 1
                        }
                        if !repeated {
                            reachedAt[k] = previous
                            k += 1
                            continue
                        }
                    }
                    // Else the earliest later event that matches.
                    var found = false
                    while j < facts.count {
                        let f = facts[j]
                        if q.steps[k].matches(f) {
                            // Later matches are no earlier, so the first one out of window ends
                            // it. (Int128: extreme timestamps must not trap.)
                            if Int128(f.at) - Int128(entry.at) > Int128(q.windowMs) { break }
                            found = true
                            break
                        }
                        j += 1
                    }
                    guard found else { break }
                    reachedAt[k] = j
                    k += 1
                    j += 1
                }
                // Furthest step, then earliest furthest event, then earliest entry (we scan in
                // timeline order, so a tie keeps the earlier entry).
                if k > bestSteps || (k == bestSteps && reachedAt[k - 1] < best[k - 1]) {
                    bestSteps = k
                    for s in 0..<k { best[s] = reachedAt[s] }
                }
            }
            guard bestSteps > 0 else { continue }
            let key = breakdownKey(facts[best[0]], q.by)
            let g: Int
            if let existing = groupIndex[key] {
                g = existing
            } else {
                g = groupKeys.count
                groupIndex[key] = g
                groupKeys.append(key)
                counts.append([Int](repeating: 0, count: n))
                gaps.append([[Int64]](repeating: [], count: n))
            }
            for s in 0..<bestSteps {
                counts[g][s] += 1
                if s > 0 {
                    // ≥ 0 (timeline order), and only an absurd span could exceed Int64.
                    let (gap, overflow) = facts[best[s]].at.subtractingReportingOverflow(facts[best[s - 1]].at)
                    gaps[g][s].append(overflow ? .max : gap)
                }
            }
        }

        if q.by == .none && groupKeys.isEmpty {
            // "none" always answers its single group, even when empty.
            groupKeys.append(-1)
            counts.append([Int](repeating: 0, count: n))
            gaps.append([[Int64]](repeating: [], count: n))
        }

        let names = q.steps.map(\.name)
        var groups: [FunnelReport.Group] = []
        for g in groupKeys.indices {
            var steps: [FunnelReport.Step] = []
            for s in 0..<n {
                steps.append(.init(step: names[s], count: counts[g][s],
                                   medianMs: s == 0 ? nil : FunnelReport.median(gaps[g][s])))
            }
            groups.append(.init(value: breakdownName(groupKeys[g], q.by), steps: steps))
        }
        groups.sort { a, b in
            if a.steps[0].count != b.steps[0].count { return a.steps[0].count > b.steps[0].count }
            switch (a.value, b.value) {
            case let (x?, y?): return x.bytesLess(y)
            case (_?, nil): return true
            default: return false
            }
        }
        return FunnelReport(steps: names, windowMs: q.windowMs, by: q.by, groups: groups)
    }

    /// The group key of `f` under `by` (-1: no value); funnels and trends group by it.
    func breakdownKey(_ f: Fact, _ by: Breakdown) -> Int64 {
        switch by {
        case .channel: f.channel == Fact.noChannel ? -1 : Int64(f.channel)
        case .type: Int64(f.type.rawValue)
        case .source: f.source == 0 ? -1 : Int64(f.source)
        case .medium: f.medium == 0 ? -1 : Int64(f.medium)
        case .campaign: f.campaign == 0 ? -1 : Int64(f.campaign)
        case .term: f.term == 0 ? -1 : Int64(f.term)
        case .location: f.location == 0 ? -1 : Int64(f.location)
        case .provider: f.provider == 0 ? -1 : Int64(f.provider)
        case .none: -1
        }
    }

    /// The value a `breakdownKey` stands for (nil: no value).
    func breakdownName(_ key: Int64, _ by: Breakdown) -> String? {
        guard key >= 0 else { return nil }
        switch by {
        case .channel: return Channel(rawValue: UInt8(key))?.name
        case .type: return EventType(rawValue: UInt8(key))?.name
        case .none: return nil
        default: return values[UInt32(key)]
        }
    }
}

extension FunnelReport {
    /// Median; even counts take the mean of the two middle values, rounded down.
    static func median(_ xs: [Int64]) -> Int64? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        let m = s.count / 2
        if s.count % 2 == 1 { return s[m] }
        let a = Int128(s[m - 1]), b = Int128(s[m])
        let sum = a + b
        // Floor division, correct for negatives too.
        return Int64(sum >= 0 ? sum / 2 : (sum - 1) / 2)
    }
}
