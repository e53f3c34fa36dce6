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
    package func writeJSON(into w: inout JSONWriter) {
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
    /// The clusters with a risk at `asOf` (counting only events at or before it) whose
    /// canonical id sorts (by bytes) after `after`, at most `limit` of them (a limit below 1
    /// counts as 1).
    package func atRisk(asOf: Int64, limit: Int, after: String?) -> AtRiskPage {
        let limit = max(1, limit)
        // Order the clusters past the cursor by name first (cheap), then evaluate risk in that
        // order only until the page and one more entry are found: a page costs a sort of names
        // plus the risk of the clusters it walks, not the risk of every cluster. Names are
        // compared as the interned bytes they are: a `String` is made only for those listed.
        var candidates: [(canonical: UInt32, root: UInt32)] = []
        let afterBytes = after.map { Array($0.utf8) }
        ids.withStrings { strings in
            for root in roots {
                let canonical = clusters[Int(root)].canonical
                if let a = afterBytes {
                    let past = a.withUnsafeBytes { Interner.bytesLess($0, strings[canonical]) }
                    if !past { continue }
                }
                candidates.append((canonical, root))
            }
            candidates.sort { Interner.bytesLess(strings[$0.canonical], strings[$1.canonical]) }
        }
        var page: [AtRiskPage.Entry] = []
        var more = false
        var facts: [Fact] = []
        for (canonical, root) in candidates {
            // The journey as it stood at `asOf` (SPEC §3.2): later events do not count.
            clusters[Int(root)].decodeFacts(into: &facts, asOf: asOf)
            if facts.isEmpty { continue }
            let life = LifecycleFacts(facts)
            let risk = life.risk(facts, asOf: asOf)
            if risk.isEmpty { continue }
            if page.count == limit {
                more = true
                break
            }
            page.append(.init(patient: ids[canonical], stage: life.stage(facts, asOf: asOf), risk: risk))
        }
        return AtRiskPage(asOf: asOf, patients: page, next: more ? page.last?.patient : nil)
    }
}
