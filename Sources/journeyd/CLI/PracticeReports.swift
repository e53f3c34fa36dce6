import JourneyCore
import JourneyProtocol

/// Readable renderings of the practice reports (SPEC §3.6), rates as percentages.
extension Reports {
    /// A rate as a percentage with one decimal (`33.3%`); "-" for none.
    static func percent(_ rate: Double?) -> String {
        guard let rate else { return "-" }
        let tenths = Int64((rate * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    static func period(_ from: Int64, _ to: Int64) -> String {
        "[\(cell(time: from)), \(cell(time: to)))"
    }

    static func appointments(_ r: AppointmentsReport) -> String {
        var t = Table([r.by.name, "appointments", "visited", "no-show", "cancelled", "open", "no-show %",
                       "cancel %", "rebooked", "rebook %", "revenue"], rightAligned: Set(1...10))
        for g in r.groups {
            t.add([cell(g.value), "\(g.appointments)", "\(g.visited)", "\(g.noShow)", "\(g.cancelled)", "\(g.open)",
                   percent(g.noShowRate), percent(g.cancellationRate), "\(g.rebooked)", percent(g.rebookRate),
                   cell(cents: g.revenueCents)])
        }
        return "appointments scheduled in \(period(r.from, r.to))\n" + t.render()
    }

    static func patients(_ r: PatientsReport) -> String {
        var t = Table([r.by.name, "new", "referred", "active at start", "retained", "retention %", "lapsed",
                       "visits", "revenue"], rightAligned: Set(1...8))
        for g in r.groups {
            t.add([cell(g.value), "\(g.new)", "\(g.referredNew)", "\(g.activeAtStart)", "\(g.retained)",
                   percent(g.retentionRate), "\(g.lapsed)", "\(g.visits)", cell(cents: g.revenueCents)])
        }
        return "patients in \(period(r.from, r.to))\n" + t.render()
    }

    static func cohorts(_ r: CohortsReport) -> String {
        var headers = ["month"]
        if r.by != .none { headers.append(r.by.name) }
        headers.append("size")
        headers += (0..<r.periods).map { "+\($0)" }
        let first = headers.count - r.periods - 1
        var t = Table(headers, rightAligned: Set(first..<headers.count))
        for c in r.cohorts {
            var row = [c.month]
            if r.by != .none { row.append(cell(c.value)) }
            row.append("\(c.size)")
            row += c.retained.map { $0.map { "\($0)" } ?? "-" }
            t.add(row)
        }
        return "cohorts by first-visit month in \(period(r.from, r.to)): patients with a visit k months later\n" + t.render()
    }

    static func trends(_ r: TrendsReport) -> String {
        // One row per bucket, one column per group.
        let names = r.groups.map { cell($0.value) }
        var t = Table([r.interval.name] + (r.by == .none ? ["count"] : names), rightAligned: Set(1...max(1, names.count)))
        for (i, start) in r.buckets.enumerated() {
            let counts = r.groups.map { "\($0.counts[i])" }
            t.add([String(cell(time: start).prefix(10))] + (counts.isEmpty ? ["0"] : counts))
        }
        t.add(["total"] + (r.groups.isEmpty ? ["0"] : r.groups.map { "\($0.total)" }))
        let what = r.unique ? "patients with a \(r.step)" : "\(r.step) events"
        return "\(what) per \(r.interval.name)\(r.by == .none ? "" : ", by \(r.by.name)")\n" + t.render()
    }

    static func referrals(_ r: ReferralsReport) -> String {
        var t = Table(["referrer", "referred", "converted", "conversion %", "revenue"], rightAligned: [1, 2, 3, 4])
        for x in r.referrers {
            t.add([x.patient, "\(x.referred)", "\(x.converted)",
                   percent(x.referred == 0 ? nil : Double(x.converted) / Double(x.referred)), cell(cents: x.revenueCents)])
        }
        let s = r.summary
        return "referrals as of \(cell(time: r.asOf))\n" + t.render() + "\n\n" + keyValues([
            ("referred patients", "\(s.referredPatients), average value \(s.referredAvgValueCents.map { cell(cents: $0) } ?? "-")"),
            ("direct patients", "\(s.directPatients), average value \(s.directAvgValueCents.map { cell(cents: $0) } ?? "-")"),
        ])
    }

    static func segment(_ p: SegmentPage) -> String {
        var t = Table(["patient", "stage", "risk", "visits", "last visit", "lifetime value", "acquisition"],
                      rightAligned: [3, 5])
        for e in p.patients {
            t.add([e.patient, e.stage.name, cell(e.risk.map(\.name)), "\(e.visits)", cell(time: e.lastVisitAt),
                   cell(cents: e.lifetimeValueCents), cell(e.acquisitionChannel?.name)])
        }
        var out = "segment as of \(cell(time: p.asOf)): \(p.total) patients\n" + t.render()
        if let next = p.next { out += "\nmore: --after \(TerminalText.escape(next))" }
        return out
    }
}
