import Foundation
import Glibc
import JourneyCore
import Testing
@testable import journeyd

@Suite struct HTMLReportTests {
    static func json(_ text: String) -> JSONValue { try! JSONParser.parse(text) }

    static let funnel = json("""
    {"steps":["touch","inquiry","booking","visit"],"window_s":2592000,"by":"channel","groups":[
     {"value":"phone","steps":[{"step":"touch","count":40,"median_ms":null},{"step":"inquiry","count":40,"median_ms":0},
       {"step":"booking","count":30,"median_ms":1000},{"step":"visit","count":20,"median_ms":5000}]},
     {"value":"<script>alert(1)</script>","steps":[{"step":"touch","count":60,"median_ms":null},{"step":"inquiry","count":10,"median_ms":9},
       {"step":"booking","count":5,"median_ms":10},{"step":"visit","count":0,"median_ms":null}]},
     {"value":null,"steps":[{"step":"touch","count":0,"median_ms":null},{"step":"inquiry","count":0,"median_ms":null},
       {"step":"booking","count":0,"median_ms":null},{"step":"visit","count":0,"median_ms":null}]}]}
    """)
    static let trend = json("""
    {"step":"inquiry","interval":"month","by":"channel","unique":false,
     "buckets":["2026-01-01T00:00:00.000Z","2026-02-01T00:00:00.000Z","2026-03-01T00:00:00.000Z"],
     "groups":[{"value":"phone","counts":[3,4,5],"total":12},{"value":"chat","counts":[1,0,2],"total":3}]}
    """)
    static let cohorts = json("""
    {"from":"2026-01-01T00:00:00.000Z","to":"2026-03-01T00:00:00.000Z","periods":3,"by":"none","cohorts":[
     {"month":"2026-01","value":null,"size":4,"retained":[4,1,null]},
     {"month":"2026-02","value":null,"size":0,"retained":[0,null,null]}]}
    """)
    static let appointments = json("""
    {"from":"2026-01-01T00:00:00.000Z","to":"2026-03-01T00:00:00.000Z","by":"location","groups":[
     {"value":"downtown","appointments":10,"visited":6,"no_show":2,"cancelled":1,"open":1,"no_show_rate":0.25,
      "cancellation_rate":0.1,"rebooked":1,"rebook_rate":0.3333333333333333,"revenue":1234.50},
     {"value":"north\\u001b[31mside","appointments":1,"visited":0,"no_show":0,"cancelled":0,"open":1,"no_show_rate":null,
      "cancellation_rate":0,"rebooked":0,"rebook_rate":null,"revenue":0.00}]}
    """)

    static func page() -> String {
        HTMLReport(title: "Harbor & Co <Dental>", generatedAt: 1_772_323_200_000, from: 1_767_225_600_000, to: 1_772_323_200_000,
                   funnel: funnel, inquiryTrend: trend, visitTrend: trend, cohorts: cohorts, appointments: appointments).render()
    }

    @Test func pageIsSelfContained() {
        let html = Self.page()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="))
        #expect(!html.contains("@import") && !html.contains("url("))
    }

    @Test func valuesFromEventsAreEscaped() {
        let html = Self.page()
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("Harbor &amp; Co &lt;Dental&gt;"))
        // The ESC of a location is not written into the page.
        #expect(!html.unicodeScalars.contains("\u{1B}"))
        #expect(html.contains("north\u{FFFD}[31mside"))
    }

    @Test func funnelTotalsAreSummedOverGroups() {
        let html = Self.page()
        // touch 40 + 60 + 0 = 100; inquiry 50 (50.0% of step 1); booking 35; visit 20.
        #expect(html.contains(">100 · 100.0%<"))
        #expect(html.contains(">50 · 50.0%<"))
        #expect(html.contains(">35 · 35.0%<"))
        #expect(html.contains(">20 · 20.0%<"))
        // Per-channel conversion: phone 20 of 40 = 50.0%; the other 0 of 60 = 0.0%; the empty group –.
        #expect(html.contains("<td>phone</td><td>40</td><td>40</td><td>30</td><td>20</td><td>50.0%</td>"))
        #expect(html.contains("<td>(none)</td><td>0</td><td>0</td><td>0</td><td>0</td><td>–</td>"))
    }

    @Test func cohortCellsShowShareOfSizeAndLeaveFutureMonthsBlank() {
        let html = Self.page()
        // 2026-01: 4 of 4 = 100.0%, 1 of 4 = 25.0%, a null third month; 2026-02 of size 0: –.
        #expect(html.contains(">100.0%<"))
        #expect(html.contains(">25.0%<"))
        #expect(html.contains("<title>1 of 4</title>"))
        #expect(html.components(separatedBy: "fill=\"#f4f4f4\"").count - 1 == 3)
        #expect(SVGChart.blend(0) == "#EAF2FA" && SVGChart.blend(1) == "#0072B2")
    }

    @Test func appointmentRowsCarryRatesAndRevenue() {
        let html = Self.page()
        #expect(html.contains("<td>downtown</td><td>10</td><td>25.0%</td><td>10.0%</td><td>33.3%</td><td>1234.50</td>"))
        #expect(html.contains("no-show – · cancelled 0.0%"))
        #expect(html.contains("<title>visited: 6</title>"))
    }

    @Test func trendLabelsAreMonthsAndSmallGroupsFold() {
        var groups: [String] = []
        for i in 0..<8 { groups.append("{\"value\":\"g\(i)\",\"counts\":[\(8 - i)],\"total\":\(8 - i)}") }
        let many = Self.json("{\"step\":\"visit\",\"interval\":\"week\",\"by\":\"location\",\"unique\":true,\"buckets\":[\"2026-01-05T00:00:00.000Z\"],\"groups\":[\(groups.joined(separator: ","))]}")
        let html = HTMLReport(title: "t", generatedAt: 0, from: 0, to: 1, funnel: Self.funnel, inquiryTrend: Self.trend,
                              visitTrend: many, cohorts: Self.cohorts, appointments: Self.appointments).render()
        #expect(html.contains(">2026-01<") && html.contains(">2026-03<"))
        #expect(html.contains(">2026-01-05<"))
        // Six series: g0…g4 and "other" (g5 + g6 + g7).
        #expect(html.contains(">g4<") && !html.contains(">g5<") && html.contains(">other<"))
        #expect(html.contains("patients per week, by location"))
    }

    @Test func textHelpers() {
        #expect(HTMLText.count(0) == "0" && HTMLText.count(999) == "999" && HTMLText.count(1000) == "1,000")
        #expect(HTMLText.count(1_234_567) == "1,234,567" && HTMLText.count(-1234) == "-1,234")
        #expect(HTMLText.percent(nil) == "–" && HTMLText.percent(0.0005) == "0.1%" && HTMLText.percent(0.00049) == "0.0%")
        #expect(HTMLText.percent(1) == "100.0%")
        #expect(HTMLText.number(12) == "12" && HTMLText.number(0.25) == "0.3" && HTMLText.number(-0.5) == "-0.5")
        #expect(HTMLText.escape("a\"b'c\n") == "a&quot;b&#39;c\u{FFFD}")
    }
}

@Suite struct ReportCommandTests {
    /// A practice imported into a store, then `journeyd report --html`: one page with every
    /// chart, owner-only, the location of each appointment group named.
    @Test(binaryNeeded) func reportCommandWritesOnePrivatePage() throws {
        let dir = try TemporaryDirectory()
        let ndjson = dir.path + "/practice.ndjson"
        let data = dir.path + "/store"
        let generated = try run(["generate", "--events", "3000", "--seed", "4", "--practice-rules"])
        #expect(generated.status == 0)
        try generated.stdout.write(toFile: ndjson, atomically: true, encoding: .utf8)
        #expect(try run(["import", ndjson, "--data", data]).status == 0)
        let page = dir.path + "/report.html"
        let old = umask(0)
        defer { umask(old) }
        let r = try run(["report", "--html", page, "--data", data, "--from", "2025-01-01T00:00:00Z",
                         "--to", "2025-04-01T00:00:00Z", "--title", "Test <practice>"])
        #expect(r.status == 0, "\(r.stderr)")
        var st = stat()
        #expect(stat(page, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("<title>Test &lt;practice&gt;</title>"))
        for heading in ["Funnel", "Inquiries by month", "Visits by month", "Retention by first-visit cohort",
                        "Appointment outcomes by location"] {
            #expect(html.contains("<h2>\(heading)"), "\(heading)")
        }
        #expect(html.contains(">downtown<") && html.contains(">harbor<") && html.contains(">northside<"))
        #expect(html.contains(">2025-01<") && html.contains(">2025-03<") && !html.contains(">2025-04<"))
        #expect(!html.contains("<script"))
    }

    @Test(binaryNeeded) func reportCommandNeedsAFile() throws {
        let dir = try TemporaryDirectory()
        let r = try run(["report", "--data", dir.path + "/store"])
        #expect(r.status == 2 && r.stderr.contains("--html FILE is required"))
    }
}
