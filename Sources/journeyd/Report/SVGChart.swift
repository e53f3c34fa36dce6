/// The charts of the HTML report, drawn as inline SVG: no script, no fonts or images fetched,
/// so the page shows the same offline, in a mail attachment or printed.
///
/// Every label passes through `HTMLText.escape`; sizes are in CSS pixels.
enum SVGChart {
    /// A palette that colour-blind readers can tell apart (Okabe and Ito), in series order.
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999933", "#444444"]

    /// One horizontal bar per row, lengths proportional to `value`, the `note` after the bar.
    static func bars(_ rows: [(label: String, value: Int64, note: String)], width: Double = 720, color: String = palette[0]) -> String {
        let labelWidth = 150.0, noteWidth = 170.0, rowHeight = 28.0
        let barSpace = width - labelWidth - noteWidth
        let top = Double(rows.map(\.value).max() ?? 0)
        var svg = open(width: width, height: rowHeight * Double(rows.count) + 8)
        for (i, r) in rows.enumerated() {
            let y = 4 + rowHeight * Double(i)
            let w = top > 0 ? barSpace * Double(r.value) / top : 0
            svg += text(labelWidth - 8, y + 18, r.label, anchor: "end")
            svg += rect(labelWidth, y + 4, Swift.max(w, r.value > 0 ? 1 : 0), rowHeight - 8, fill: color)
            svg += text(labelWidth + w + 6, y + 18, r.note)
        }
        return svg + "</svg>"
    }

    /// One horizontal bar per row split into segments (same order as `segmentNames`), all rows
    /// scaled to the largest total, with a legend above and the `note` after each bar.
    static func stackedBars(_ rows: [(label: String, segments: [Int64], note: String)], segmentNames: [String],
                            width: Double = 720) -> String {
        let labelWidth = 150.0, noteWidth = 220.0, rowHeight = 28.0, legend = 26.0
        let barSpace = width - labelWidth - noteWidth
        let top = Double(rows.map { $0.segments.reduce(0, +) }.max() ?? 0)
        var svg = open(width: width, height: legend + rowHeight * Double(rows.count) + 8)
        svg += self.legend(segmentNames, x: labelWidth, y: 4)
        for (i, r) in rows.enumerated() {
            let y = legend + 4 + rowHeight * Double(i)
            svg += text(labelWidth - 8, y + 18, r.label, anchor: "end")
            var x = labelWidth
            for (k, v) in r.segments.enumerated() where v > 0 {
                let w = top > 0 ? barSpace * Double(v) / top : 0
                svg += rect(x, y + 4, w, rowHeight - 8, fill: palette[k % palette.count], title: "\(segmentNames[k]): \(HTMLText.count(v))")
                x += w
            }
            svg += text(x + 6, y + 18, r.note)
        }
        return svg + "</svg>"
    }

    /// A line per series over the buckets, with a legend, the y axis from 0 to the largest
    /// value, and every few bucket labels on the x axis.
    static func lines(buckets: [String], series: [(name: String, values: [Int64])], width: Double = 720, height: Double = 260) -> String {
        let left = 52.0, right = 12.0, top = 30.0, bottom = 34.0
        let plotW = width - left - right, plotH = height - top - bottom
        let maxValue = Swift.max(1, series.flatMap(\.values).max() ?? 0)
        var svg = open(width: width, height: height)
        svg += legend(series.map(\.name), x: left, y: 4)
        // Axes and a few horizontal grid lines with their values.
        for k in 0...4 {
            let v = Double(maxValue) * Double(k) / 4
            let y = top + plotH - plotH * Double(k) / 4
            svg += "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y))\" stroke=\"#ddd\"/>"
            svg += text(left - 6, y + 4, HTMLText.count(Int64(v.rounded())), anchor: "end", size: 11)
        }
        let count = buckets.count
        func x(_ i: Int) -> Double { count > 1 ? left + plotW * Double(i) / Double(count - 1) : left + plotW / 2 }
        let every = Swift.max(1, (count + 7) / 8)
        for i in stride(from: 0, to: count, by: every) {
            svg += text(x(i), height - 12, buckets[i], anchor: "middle", size: 11)
        }
        for (s, line) in series.enumerated() {
            let color = palette[s % palette.count]
            let points = line.values.enumerated().map { i, v in
                "\(n(x(i))),\(n(top + plotH - plotH * Double(v) / Double(maxValue)))"
            }.joined(separator: " ")
            if count == 1 {
                svg += "<circle cx=\"\(n(x(0)))\" cy=\"\(n(top + plotH - plotH * Double(line.values.first ?? 0) / Double(maxValue)))\" r=\"3\" fill=\"\(color)\"/>"
            } else {
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>"
            }
        }
        return svg + "</svg>"
    }

    /// A grid of cells, one row per cohort, one column per period: each cell shaded by its
    /// share of the row's `size`, with the percentage written in it; a nil cell (a period
    /// not yet reached) is left blank.
    static func heatMap(_ rows: [(label: String, size: Int64, cells: [Int64?])], columns: Int, width: Double = 720) -> String {
        let labelWidth = 150.0, sizeWidth = 56.0, rowHeight = 24.0, header = 22.0
        let cellW = (width - labelWidth - sizeWidth) / Double(Swift.max(columns, 1))
        var svg = open(width: width, height: header + rowHeight * Double(rows.count) + 4)
        svg += text(labelWidth + sizeWidth - 8, 16, "size", anchor: "end", size: 11)
        for k in 0..<columns {
            svg += text(labelWidth + sizeWidth + cellW * (Double(k) + 0.5), 16, "+\(k)", anchor: "middle", size: 11)
        }
        for (i, r) in rows.enumerated() {
            let y = header + rowHeight * Double(i)
            svg += text(labelWidth - 8, y + 16, r.label, anchor: "end", size: 12)
            svg += text(labelWidth + sizeWidth - 8, y + 16, HTMLText.count(r.size), anchor: "end", size: 12)
            for (k, c) in r.cells.prefix(columns).enumerated() {
                let x = labelWidth + sizeWidth + cellW * Double(k)
                guard let c else {
                    svg += rect(x + 1, y + 1, cellW - 2, rowHeight - 2, fill: "#f4f4f4")
                    continue
                }
                let share = r.size > 0 ? Double(c) / Double(r.size) : 0
                // From a pale blue at 0 to the palette's blue at 100%.
                let fill = blend(share)
                svg += rect(x + 1, y + 1, cellW - 2, rowHeight - 2, fill: fill, title: "\(HTMLText.count(c)) of \(HTMLText.count(r.size))")
                svg += text(x + cellW / 2, y + 16, HTMLText.percent(r.size > 0 ? share : nil), anchor: "middle", size: 10,
                            color: share > 0.5 ? "#fff" : "#222")
            }
        }
        return svg + "</svg>"
    }

    // MARK: pieces

    private static func n(_ x: Double) -> String { HTMLText.number(x) }

    private static func open(width: Double, height: Double) -> String {
        "<svg width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\">"
    }

    private static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, title: String? = nil) -> String {
        let shape = "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(Swift.max(w, 0)))\" height=\"\(n(h))\" fill=\"\(fill)\""
        guard let title else { return shape + "/>" }
        return shape + "><title>\(HTMLText.escape(title))</title></rect>"
    }

    private static func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "start", size: Int = 13, color: String = "#222") -> String {
        "<text x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\" fill=\"\(color)\">\(HTMLText.escape(s))</text>"
    }

    private static func legend(_ names: [String], x: Double, y: Double) -> String {
        var out = "", cursor = x
        for (i, name) in names.enumerated() {
            out += rect(cursor, y + 4, 12, 12, fill: palette[i % palette.count])
            out += text(cursor + 16, y + 15, name, size: 12)
            cursor += 16 + Double(name.count) * 7 + 18
        }
        return out
    }

    /// The colour of a heat-map cell for a share in [0, 1].
    static func blend(_ share: Double) -> String {
        let t = Swift.min(Swift.max(share, 0), 1)
        // #EAF2FA (pale) to #0072B2 (the palette's blue).
        let from = (0xEA, 0xF2, 0xFA), to = (0x00, 0x72, 0xB2)
        func mix(_ a: Int, _ b: Int) -> Int { Int((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        let (r, g, b) = (mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
        return "#" + [r, g, b].map { v in
            let h = String(v, radix: 16, uppercase: true)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }
}
