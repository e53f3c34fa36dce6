import JourneyCore

/// Plain-text tables for the command line's readable output.
struct Table {
    var headers: [String]
    var rows: [[String]] = []
    /// Columns whose cells are right-aligned (numbers).
    var rightAligned: Set<Int> = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    /// Adds a row; its cells are escaped for the terminal (`TerminalText`).
    mutating func add(_ row: [String]) { rows.append(row.map(TerminalText.escape)) }

    func render() -> String {
        let headers = headers.map(TerminalText.escape)
        var widths = headers.map { $0.count }
        for r in rows {
            for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, w) in widths.enumerated() {
                let c = i < cells.count ? cells[i] : ""
                let pad = String(repeating: " ", count: w - c.count)
                out += rightAligned.contains(i) ? pad + c : c + pad
                if i < widths.count - 1 { out += "  " }
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return out
        }
        var lines = [line(headers), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// A short readable cell: a value, or "-" for none.
func cell(_ s: String?) -> String { s ?? "-" }

/// A list as one cell, comma-separated; "-" when empty.
func cell(_ list: [String]) -> String { list.isEmpty ? "-" : list.joined(separator: ", ") }

/// A time as RFC 3339 UTC with milliseconds, as the JSON answers write it; "-" for none.
func cell(time ms: Int64?) -> String {
    guard let ms else { return "-" }
    var w = JSONWriter()
    w.time(ms: ms)
    return String(w.string.dropFirst().dropLast())
}

/// Money with two decimals (`120.50`), as the JSON answers write it.
func cell(cents: Int64) -> String {
    var w = JSONWriter()
    w.money(cents: cents)
    return w.string
}

/// A rate as the JSON answers write it (`0.25`, `1`); "-" for none.
func cell(rate: Double?) -> String {
    guard let rate else { return "-" }
    var w = JSONWriter()
    w.double(rate)
    return w.string
}

/// Key/value lines, keys padded to one width, values escaped for the terminal (`TerminalText`).
func keyValues(_ pairs: [(String, String)]) -> String {
    let w = pairs.map { $0.0.count }.max() ?? 0
    return pairs.map { $0.0 + String(repeating: " ", count: w - $0.0.count) + "  " + TerminalText.escape($0.1) }.joined(separator: "\n")
}
