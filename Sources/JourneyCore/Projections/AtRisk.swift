/// One page of clusters with a non-empty `risk`, by canonical id (SPEC §4 `at_risk`).
public struct AtRiskPage: Sendable, Hashable {
    /// One at-risk patient.
    public struct Entry: Sendable, Hashable {
        /// The canonical id.
        public var patient: String
        /// The journey stage.
        public var stage: Stage
        /// The risk flags that hold.
        public var risk: [Risk]
    }

    /// The instant of evaluation (ms).
    public var asOf: Int64
    /// This page, sorted by canonical id bytes.
    public var patients: [Entry]
    /// The `after` cursor of the following page; nil on the last page.
    public var next: String?

    /// Writes the SPEC §5 object.
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("as_of"); w.time(ms: asOf)
        w.key("patients")
        w.beginArray()
        for p in patients {
            w.beginObject()
            w.key("patient"); w.string(p.patient)
            w.key("stage"); w.string(p.stage.name)
            w.key("risk"); w.beginArray(); for r in p.risk { w.string(r.name) }; w.endArray()
            w.endObject()
        }
        w.endArray()
        w.key("next"); w.string(next)
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
    /// The at-risk clusters at `asOf` whose canonical id sorts (by bytes) after `after`,
    /// at most `limit` of them (a limit below 1 counts as 1).
    public func atRisk(asOf: Int64, limit: Int, after: String?) -> AtRiskPage {
        let limit = max(1, limit)
        var all: [AtRiskPage.Entry] = []
        var facts: [Fact] = []
        for root in roots {
            clusters[Int(root)].decodeFacts(into: &facts)
            if facts.isEmpty { continue }
            let name = canonicalName(root)
            if let after, !after.bytesLess(name) { continue }
            let life = LifecycleFacts(facts)
            let risk = life.risk(facts, asOf: asOf)
            if risk.isEmpty { continue }
            all.append(.init(patient: name, stage: life.stage(facts, asOf: asOf), risk: risk))
        }
        all.sort { $0.patient.bytesLess($1.patient) }
        let page = Array(all.prefix(limit))
        return AtRiskPage(asOf: asOf, patients: page, next: all.count > limit ? page.last?.patient : nil)
    }
}
