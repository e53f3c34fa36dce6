/// One cluster as it stood at a report's `as_of` (SPEC §3.2's point-in-time view): its facts
/// with `at ≤ as_of`, and the journey figures the reports read, in one pass over them.
struct ClusterAsOf {
    /// The cluster's slot.
    var root: UInt32
    /// Its facts at or before `as_of`, in timeline order.
    var facts: [Fact]
    /// The stage and risk rules' figures.
    var life: LifecycleFacts
    /// Index in `facts` of the earliest touch, or -1.
    var firstTouch = -1
    /// The sum of visit amounts, in cents (saturating).
    var lifetimeValueCents: Int64 = 0
    /// The cluster slot of the referrer of the earliest referral, or `Fact.none`.
    var referrerRoot: UInt32 = Fact.none

    var visits: Int { life.visits }
    var firstVisitAt: Int64? { life.firstVisit >= 0 ? facts[life.firstVisit].at : nil }
    var lastVisitAt: Int64? { life.lastVisit >= 0 ? facts[life.lastVisit].at : nil }
    var acquisitionChannel: UInt8 { firstTouch >= 0 ? facts[firstTouch].channel : Fact.noChannel }

    init(root: UInt32, facts: [Fact], clusterOf: [UInt32]) {
        self.root = root
        self.facts = facts
        life = LifecycleFacts(facts)
        for (i, f) in facts.enumerated() {
            if firstTouch < 0, f.type.isTouch { firstTouch = i }
            switch f.type {
            case .visit:
                let (sum, overflow) = lifetimeValueCents.addingReportingOverflow(f.amountCents)
                lifetimeValueCents = overflow ? (f.amountCents > 0 ? .max : .min) : sum
            case .referral:
                if referrerRoot == Fact.none, f.other != Fact.none { referrerRoot = clusterOf[Int(f.other)] }
            default: break
            }
        }
    }

    func stage(asOf: Int64) -> Stage { life.stage(facts, asOf: asOf) }
    func risk(asOf: Int64) -> [Risk] { life.risk(facts, asOf: asOf) }
}

extension Projector {
    /// The cluster `ClusterAsOf` for one slot at `asOf`; nil when it has no event then.
    func clusterAsOf(_ root: UInt32, _ asOf: Int64) -> ClusterAsOf? {
        var facts = clusters[Int(root)].facts
        if let cut = facts.firstIndex(where: { $0.at > asOf }) { facts.removeSubrange(cut...) }
        return facts.isEmpty ? nil : ClusterAsOf(root: root, facts: facts, clusterOf: clusterOf)
    }
}

/// A report group's value: null sorts last, others by bytes.
func groupValueLess(_ a: String?, _ b: String?) -> Bool {
    switch (a, b) {
    case let (x?, y?): x.bytesLess(y)
    case (_?, nil): true
    default: false
    }
}

/// A rate `part / whole`, nil when `whole` is 0.
func reportRate(_ part: Int, _ whole: Int) -> Double? {
    whole == 0 ? nil : Double(part) / Double(whole)
}

/// Reading report members the common readers lack.
extension JSONFields {
    /// A number, or nil for `null`.
    func optionalDouble(_ key: String) throws(ProjectionJSONError) -> Double? {
        let where_ = path.isEmpty ? key : "\(path).\(key)"
        guard let m = members.first(where: { $0.key == key }) else { throw ProjectionJSONError(path: where_, reason: "missing") }
        if m.value.isNull { return nil }
        guard case .number(let n) = m.value else { throw ProjectionJSONError(path: where_, reason: "expected a number or null") }
        return n.double
    }

    /// A boolean.
    func bool(_ key: String) throws(ProjectionJSONError) -> Bool {
        let where_ = path.isEmpty ? key : "\(path).\(key)"
        guard let b = members.first(where: { $0.key == key })?.value.boolValue else {
            throw ProjectionJSONError(path: where_, reason: "expected a boolean")
        }
        return b
    }

    /// An array of counts, each an integer ≥ 0 or `null`.
    func optionalCounts(_ key: String) throws(ProjectionJSONError) -> [Int?] {
        let where_ = path.isEmpty ? key : "\(path).\(key)"
        guard let list = members.first(where: { $0.key == key })?.value.arrayValue else {
            throw ProjectionJSONError(path: where_, reason: "expected an array")
        }
        var out: [Int?] = []
        for (i, v) in list.enumerated() {
            if v.isNull { out.append(nil); continue }
            guard let n = v.int64Value, n >= 0, n <= Int64(Int.max) else {
                throw ProjectionJSONError(path: "\(where_)[\(i)]", reason: "expected an integer ≥ 0 or null")
            }
            out.append(Int(n))
        }
        return out
    }

    /// An array of RFC 3339 times.
    func times(_ key: String) throws(ProjectionJSONError) -> [Int64] {
        var out: [Int64] = []
        for (i, s) in try strings(key).enumerated() {
            guard let ms = Timestamp.parse(s) else {
                throw ProjectionJSONError(path: "\(path.isEmpty ? key : "\(path).\(key)")[\(i)]", reason: "expected an RFC 3339 time")
            }
            out.append(ms)
        }
        return out
    }

    /// A money amount, or nil for `null`.
    func optionalMoney(_ key: String) throws(ProjectionJSONError) -> Int64? {
        guard let m = members.first(where: { $0.key == key }), !m.value.isNull else {
            if members.contains(where: { $0.key == key }) { return nil }
            throw ProjectionJSONError(path: path.isEmpty ? key : "\(path).\(key)", reason: "missing")
        }
        return try money(key)
    }
}
