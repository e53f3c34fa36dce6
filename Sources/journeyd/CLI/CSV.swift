import JourneyCore
import JourneyProtocol

/// Comma-separated renderings of the reports (`--csv`): a header row, then one row per line of
/// the report, fields quoted per RFC 4180 when they hold a comma, a quote or a line break.
/// Values are written as the JSON answers write them (rates as fractions, money with two
/// decimals, times RFC 3339 UTC); a null is an empty field.
struct CSV {
    private var lines: [String] = []

    init(_ header: [String]) { add(header) }

    mutating func add(_ fields: [String?]) {
        lines.append(fields.map { CSV.field($0 ?? "") }.joined(separator: ","))
    }

    /// The table, rows ended by CRLF as RFC 4180 has them.
    var text: String { lines.map { $0 + "\r\n" }.joined() }

    /// One field, quoted when it must be.
    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    /// Every `target` replaced by `replacement` (without Foundation).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// CSV cells of report values.
enum CSVCell {
    static func time(_ ms: Int64?) -> String? { ms.map { cell(time: $0) } }
    static func rate(_ r: Double?) -> String? { r.map { cell(rate: $0) } }
    static func money(_ cents: Int64) -> String { cell(cents: cents) }
}

extension Reports {
    static func funnelCSV(_ f: FunnelReport) -> String {
        var t = CSV([f.by.name, "step", "count", "median_ms"])
        for g in f.groups {
            for s in g.steps { t.add([g.value, s.step, "\(s.count)", s.medianMs.map { "\($0)" }]) }
        }
        return t.text
    }

    static func contactsCSV(_ c: ContactsReport) -> String {
        var t = CSV(["channel", "conversations", "resolved", "first_contact_resolved", "handoffs"])
        for r in c.channels {
            t.add([r.channel.name, "\(r.conversations)", "\(r.resolved)", "\(r.firstContactResolved)", "\(r.handoffs)"])
        }
        return t.text
    }

    static func atRiskCSV(_ page: AtRiskPage) -> String {
        var t = CSV(["patient", "stage", "risk"])
        for p in page.patients { t.add([p.patient, p.stage.name, p.risk.map(\.name).joined(separator: ";")]) }
        return t.text
    }

    static func appointmentsCSV(_ r: AppointmentsReport) -> String {
        var t = CSV([r.by.name, "appointments", "visited", "no_show", "cancelled", "open", "no_show_rate",
                     "cancellation_rate", "rebooked", "rebook_rate", "revenue"])
        for g in r.groups {
            t.add([g.value, "\(g.appointments)", "\(g.visited)", "\(g.noShow)", "\(g.cancelled)", "\(g.open)",
                   CSVCell.rate(g.noShowRate), CSVCell.rate(g.cancellationRate), "\(g.rebooked)",
                   CSVCell.rate(g.rebookRate), CSVCell.money(g.revenueCents)])
        }
        return t.text
    }

    static func patientsCSV(_ r: PatientsReport) -> String {
        var t = CSV([r.by.name, "new", "referred_new", "active_at_start", "retained", "retention_rate", "lapsed",
                     "visits", "revenue"])
        for g in r.groups {
            t.add([g.value, "\(g.new)", "\(g.referredNew)", "\(g.activeAtStart)", "\(g.retained)",
                   CSVCell.rate(g.retentionRate), "\(g.lapsed)", "\(g.visits)", CSVCell.money(g.revenueCents)])
        }
        return t.text
    }

    static func cohortsCSV(_ r: CohortsReport) -> String {
        var t = CSV(["month", r.by.name, "size"] + (0..<r.periods).map { "month_\($0)" })
        for c in r.cohorts {
            t.add([c.month, c.value, "\(c.size)"] + c.retained.map { $0.map { "\($0)" } })
        }
        return t.text
    }

    static func trendsCSV(_ r: TrendsReport) -> String {
        var t = CSV([r.by.name, "total"] + r.buckets.map { cell(time: $0) })
        for g in r.groups { t.add([g.value, "\(g.total)"] + g.counts.map { "\($0)" }) }
        return t.text
    }

    static func referralsCSV(_ r: ReferralsReport) -> String {
        var t = CSV(["patient", "referred", "converted", "revenue"])
        for x in r.referrers { t.add([x.patient, "\(x.referred)", "\(x.converted)", CSVCell.money(x.revenueCents)]) }
        return t.text
    }

    static func segmentCSV(_ p: SegmentPage) -> String {
        var t = CSV(["patient", "stage", "risk", "visits", "last_visit_at", "lifetime_value", "acquisition_channel"])
        for e in p.patients {
            t.add([e.patient, e.stage.name, e.risk.map(\.name).joined(separator: ";"), "\(e.visits)",
                   CSVCell.time(e.lastVisitAt), CSVCell.money(e.lifetimeValueCents), e.acquisitionChannel?.name])
        }
        return t.text
    }
}
