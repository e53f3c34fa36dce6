import JourneyCore

/// `journeyd report --html`: one self-contained page a practice manager can open, mail or print:
/// the default funnel, inquiry and visit trends, the cohort retention matrix as a heat map, and
/// appointment outcomes by location. Charts are inline SVG; the page has no script and fetches
/// nothing, so it shows the same offline.
///
/// It is drawn from the JSON answers of the reports (the objects `--json` prints), so it shows
/// exactly what the reports answer.
struct HTMLReport {
    /// The page's heading, e.g. the practice's name.
    var title: String
    /// When the report was made, ms since the epoch.
    var generatedAt: Int64
    /// The period the trends, cohorts and appointments cover, as the reports were asked.
    var from: Int64
    var to: Int64
    /// The default funnel's answer (`{steps, window_s, by, groups}`).
    var funnel: JSONValue
    /// Trends answers (`{step, interval, by, unique, buckets, groups}`) for inquiries and visits.
    var inquiryTrend: JSONValue
    var visitTrend: JSONValue
    /// The cohorts answer (`{from, to, periods, by, cohorts}`).
    var cohorts: JSONValue
    /// The appointments answer grouped by location (`{from, to, by, groups}`).
    var appointments: JSONValue

    /// Series drawn per trend chart; the smaller groups are summed into "other".
    static let maxSeries = 6

    /// The whole page.
    func render() -> String {
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTMLText.escape(title))</title>
        <style>
        body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;max-width:780px;margin:24px auto;padding:0 16px}
        h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .meta{color:#666;font-size:13px}table{border-collapse:collapse;font-size:13px;margin-top:8px}
        td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}td:first-child,th:first-child{text-align:left}
        .note{color:#666;font-size:12px}
        </style></head><body>
        <h1>\(HTMLText.escape(title))</h1>
        <p class="meta">Made \(HTMLText.escape(Timestamp.format(ms: generatedAt))) · period \(HTMLText.escape(Timestamp.format(ms: from))) to \(HTMLText.escape(Timestamp.format(ms: to))) (end excluded)</p>

        """
        html += funnelSection()
        html += trendSection("Inquiries", inquiryTrend)
        html += trendSection("Visits", visitTrend)
        html += cohortSection()
        html += appointmentSection()
        html += "</body></html>\n"
        return html
    }

    // MARK: sections

    private func funnelSection() -> String {
        let steps = funnel["steps"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let groups = funnel["groups"]?.arrayValue ?? []
        var totals = [Int64](repeating: 0, count: steps.count)
        for g in groups {
            for (k, s) in (g["steps"]?.arrayValue ?? []).enumerated() where k < totals.count {
                totals[k] += s["count"]?.int64Value ?? 0
            }
        }
        let first = totals.first ?? 0
        let rows = steps.enumerated().map { k, step in
            (label: step, value: totals[k], note: "\(HTMLText.count(totals[k])) · \(HTMLText.percent(first > 0 ? Double(totals[k]) / Double(first) : nil))")
        }
        let window = funnel["window_s"]?.int64Value.map { "\($0 / 86_400) days" } ?? "–"
        var out = "<h2>Funnel</h2>\n<p class=\"note\">Patients reaching each step within \(HTMLText.escape(window)) of their entry; share of step 1.</p>\n"
        out += SVGChart.bars(rows) + "\n"
        let by = funnel["by"]?.stringValue ?? "none"
        guard by != "none", !groups.isEmpty else { return out }
        out += "<table><tr><th>\(HTMLText.escape(by))</th>" + steps.map { "<th>\(HTMLText.escape($0))</th>" }.joined() + "<th>conversion</th></tr>\n"
        for g in groups {
            let counts = (g["steps"]?.arrayValue ?? []).map { $0["count"]?.int64Value ?? 0 }
            let conversion = (counts.first ?? 0) > 0 ? Double(counts.last ?? 0) / Double(counts[0]) : nil
            out += "<tr><td>\(label(g["value"]))</td>" + counts.map { "<td>\(HTMLText.count($0))</td>" }.joined()
                + "<td>\(HTMLText.percent(conversion))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    private func trendSection(_ heading: String, _ trend: JSONValue) -> String {
        let buckets = (trend["buckets"]?.arrayValue ?? []).compactMap(\.stringValue)
        let interval = trend["interval"]?.stringValue ?? "month"
        let labels = buckets.map { b in interval == "month" ? String(b.prefix(7)) : String(b.prefix(10)) }
        var groups = (trend["groups"]?.arrayValue ?? []).map { g in
            (name: label(g["value"], escaped: false), values: (g["counts"]?.arrayValue ?? []).map { $0.int64Value ?? 0 })
        }
        if groups.count > Self.maxSeries {
            let rest = groups[(Self.maxSeries - 1)...]
            var other = [Int64](repeating: 0, count: buckets.count)
            for g in rest { for (i, v) in g.values.enumerated() where i < other.count { other[i] += v } }
            groups = Array(groups.prefix(Self.maxSeries - 1)) + [(name: "other", values: other)]
        }
        let by = trend["by"]?.stringValue ?? "none"
        let what = (trend["unique"]?.boolValue ?? false) ? "patients" : "events"
        var out = "<h2>\(HTMLText.escape(heading)) by \(HTMLText.escape(interval))</h2>\n"
        out += "<p class=\"note\">\(HTMLText.escape(what)) per \(HTMLText.escape(interval))\(by == "none" ? "" : ", by " + HTMLText.escape(by)).</p>\n"
        guard !buckets.isEmpty else { return out + "<p class=\"note\">No periods.</p>\n" }
        return out + SVGChart.lines(buckets: labels, series: groups) + "\n"
    }

    private func cohortSection() -> String {
        let periods = Int(cohorts["periods"]?.int64Value ?? 12)
        let rows = (cohorts["cohorts"]?.arrayValue ?? []).map { c in
            let month = c["month"]?.stringValue ?? "?"
            let value = c["value"].flatMap { $0.isNull ? nil : label($0, escaped: false) }
            return (label: value.map { "\(month) · \($0)" } ?? month, size: c["size"]?.int64Value ?? 0,
                    cells: (c["retained"]?.arrayValue ?? []).map { $0.isNull ? nil : $0.int64Value })
        }
        var out = "<h2>Retention by first-visit cohort</h2>\n"
        out += "<p class=\"note\">Each row: the patients whose first visit fell in that month; each column: the share with a visit k months later.</p>\n"
        guard !rows.isEmpty else { return out + "<p class=\"note\">No cohorts in the period.</p>\n" }
        return out + SVGChart.heatMap(rows, columns: periods) + "\n"
    }

    private func appointmentSection() -> String {
        let groups = appointments["groups"]?.arrayValue ?? []
        let by = appointments["by"]?.stringValue ?? "none"
        let outcomes = ["visited", "no_show", "cancelled", "open"]
        let rows = groups.map { g in
            (label: label(g["value"], escaped: false), segments: outcomes.map { g[$0]?.int64Value ?? 0 },
             note: "no-show \(HTMLText.percent(g["no_show_rate"]?.doubleValue)) · cancelled \(HTMLText.percent(g["cancellation_rate"]?.doubleValue))")
        }
        var out = "<h2>Appointment outcomes\(by == "none" ? "" : " by " + HTMLText.escape(by))</h2>\n"
        out += "<p class=\"note\">Appointments scheduled in the period, by outcome.</p>\n"
        guard !rows.isEmpty else { return out + "<p class=\"note\">No appointments in the period.</p>\n" }
        out += SVGChart.stackedBars(rows, segmentNames: ["visited", "no-show", "cancelled", "open"]) + "\n"
        out += "<table><tr><th>\(HTMLText.escape(by))</th><th>appointments</th><th>no-show rate</th><th>cancellation rate</th><th>rebook rate</th><th>revenue</th></tr>\n"
        for g in groups {
            out += "<tr><td>\(label(g["value"]))</td><td>\(HTMLText.count(g["appointments"]?.int64Value ?? 0))</td>"
                + "<td>\(HTMLText.percent(g["no_show_rate"]?.doubleValue))</td><td>\(HTMLText.percent(g["cancellation_rate"]?.doubleValue))</td>"
                + "<td>\(HTMLText.percent(g["rebook_rate"]?.doubleValue))</td><td>\(HTMLText.escape(money(g["revenue"])))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    // MARK: values

    /// A group's value as shown: the string, or "(none)" for null; escaped for HTML unless asked.
    private func label(_ v: JSONValue?, escaped: Bool = true) -> String {
        let s = v?.stringValue ?? "(none)"
        return escaped ? HTMLText.escape(s) : s
    }

    private func money(_ v: JSONValue?) -> String {
        guard case .number(let n)? = v else { return "–" }
        return n.description
    }
}

extension JSONValue {
    /// A number as a Double (an integer or a fraction), nil for anything else.
    var doubleValue: Double? {
        if case .number(let n) = self { return n.double }
        return nil
    }
}
