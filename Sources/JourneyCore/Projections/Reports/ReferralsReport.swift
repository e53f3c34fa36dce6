/// The referrals report (SPEC §3.6): who refers patients, how many of them came, what they are
/// worth, and referred against direct patients.
public struct ReferralsReport: Sendable, Hashable {
    /// The default number of referrers listed.
    public static let defaultLimit = 100

    /// One cluster that referred at least one other.
    public struct Referrer: Sendable, Hashable {
        /// Its canonical id.
        public var patient: String
        /// Other clusters whose `referred_by` it is.
        public var referred: Int
        /// Of those, with at least one visit.
        public var converted: Int
        /// The sum of their lifetime values, in cents.
        public var revenueCents: Int64
    }

    /// Patients with at least one visit, referred against direct.
    public struct Summary: Sendable, Hashable {
        /// With a `referred_by`.
        public var referredPatients: Int
        /// Without one.
        public var directPatients: Int
        /// The mean lifetime value of the referred ones, rounded half-up to cents; nil when none.
        public var referredAvgValueCents: Int64?
        /// The mean lifetime value of the direct ones, rounded half-up to cents; nil when none.
        public var directAvgValueCents: Int64?
    }

    /// The instant of evaluation (ms).
    public var asOf: Int64
    /// Referrers by referred, then converted (both descending), then canonical id bytes.
    public var referrers: [Referrer]
    /// Referred against direct patients.
    public var summary: Summary

    /// A report from its members.
    public init(asOf: Int64, referrers: [Referrer], summary: Summary) {
        self.asOf = asOf
        self.referrers = referrers
        self.summary = summary
    }

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("as_of"); w.time(ms: asOf)
        w.key("referrers")
        w.beginArray()
        for r in referrers {
            w.beginObject()
            w.key("patient"); w.string(r.patient)
            w.key("referred"); w.int(r.referred)
            w.key("converted"); w.int(r.converted)
            w.key("revenue"); w.money(cents: r.revenueCents)
            w.endObject()
        }
        w.endArray()
        w.key("summary")
        w.beginObject()
        w.key("referred_patients"); w.int(summary.referredPatients)
        w.key("direct_patients"); w.int(summary.directPatients)
        w.key("referred_avg_value")
        if let v = summary.referredAvgValueCents { w.money(cents: v) } else { w.null() }
        w.key("direct_avg_value")
        if let v = summary.directAvgValueCents { w.money(cents: v) } else { w.null() }
        w.endObject()
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }

    /// Reads the SPEC §5 object (what `writeJSON` writes) back into a value; members it does
    /// not know are ignored. Throws when a member is missing or has the wrong type.
    package init(json: JSONValue) throws(ProjectionJSONError) {
        let o = try JSONFields(json, path: "")
        var referrers: [Referrer] = []
        for r in try o.objects("referrers") {
            referrers.append(Referrer(patient: try r.string("patient"), referred: try r.count("referred"),
                                      converted: try r.count("converted"), revenueCents: try r.money("revenue")))
        }
        guard let s = try o.optionalObject("summary") else { throw ProjectionJSONError(path: "summary", reason: "expected an object") }
        self.init(asOf: try o.time("as_of"), referrers: referrers, summary: Summary(
            referredPatients: try s.count("referred_patients"), directPatients: try s.count("direct_patients"),
            referredAvgValueCents: try s.optionalMoney("referred_avg_value"),
            directAvgValueCents: try s.optionalMoney("direct_avg_value")))
    }

    /// `sum / n` in cents, rounded half-up; nil for n = 0.
    static func mean(_ sum: Int128, _ n: Int) -> Int64? {
        guard n > 0 else { return nil }
        // Floor of (sum + n/2) / n, exactly, for sums of either sign.
        let num = 2 * sum + Int128(n), den = 2 * Int128(n)
        let q = num >= 0 ? num / den : -((-num + den - 1) / den)
        return Int64(clamping: q)
    }
}

extension Projector {
    /// The referrals report (SPEC §3.6) at `asOf`: at most `limit` referrers (a limit below 1
    /// counts as 1).
    package func referrals(asOf: Int64, limit: Int) -> ReferralsReport {
        struct Tally: Sendable { var referred = 0, converted = 0; var revenue: Int128 = 0 }
        struct Partial: Sendable {
            var tallies: [UInt32: Tally] = [:]
            var referred = 0, direct = 0
            var referredSum: Int128 = 0, directSum: Int128 = 0
        }
        let figuresOnly = ReportTypes([])
        let counted = ReportTypes([.visit, .referral]).clusterMask
        let partials = scanSlots({ Partial() }) { p, out, slots in
            // A cluster counts as referred (a referral) or in the summary (a visit).
            for slot in slots where p.clusters[slot].isRoot && p.clusters[slot].hasAny(counted) {
                var c = ClusterFigures(root: UInt32(slot))
                p.clusters[slot].scanForReport(upTo: asOf, types: figuresOnly, firstTouch: false, settle: false, into: &c) { _ in }
                guard c.records > 0 else { continue }
                let referrerRoot = c.referrer == Fact.none ? Fact.none : p.clusterOf[Int(c.referrer)]
                if referrerRoot != Fact.none, referrerRoot != c.root {
                    var t = out.tallies[referrerRoot] ?? Tally()
                    t.referred += 1
                    if c.visits >= 1 { t.converted += 1 }
                    t.revenue += Int128(c.lifetimeValueCents)
                    out.tallies[referrerRoot] = t
                }
                guard c.visits >= 1 else { continue }
                if referrerRoot != Fact.none {
                    out.referred += 1
                    out.referredSum += Int128(c.lifetimeValueCents)
                } else {
                    out.direct += 1
                    out.directSum += Int128(c.lifetimeValueCents)
                }
            }
        }
        var tallies: [UInt32: Tally] = [:]
        var referred = 0, direct = 0
        var referredSum: Int128 = 0, directSum: Int128 = 0
        for part in partials {
            for (root, t) in part.tallies {
                var sum = tallies[root] ?? Tally()
                sum.referred += t.referred
                sum.converted += t.converted
                sum.revenue += t.revenue
                tallies[root] = sum
            }
            referred += part.referred
            direct += part.direct
            referredSum += part.referredSum
            directSum += part.directSum
        }
        var list = tallies.map { root, t in
            ReferralsReport.Referrer(patient: canonicalName(root), referred: t.referred, converted: t.converted,
                                     revenueCents: Int64(clamping: t.revenue))
        }
        list.sort { a, b in
            if a.referred != b.referred { return a.referred > b.referred }
            if a.converted != b.converted { return a.converted > b.converted }
            return a.patient.bytesLess(b.patient)
        }
        if list.count > max(1, limit) { list.removeSubrange(max(1, limit)...) }
        return ReferralsReport(asOf: asOf, referrers: list, summary: .init(
            referredPatients: referred, directPatients: direct,
            referredAvgValueCents: ReferralsReport.mean(referredSum, referred),
            directAvgValueCents: ReferralsReport.mean(directSum, direct)))
    }
}
