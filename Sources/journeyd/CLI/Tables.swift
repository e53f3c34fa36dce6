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

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
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

/// Renders a JSON value as a short readable cell: strings bare, null as "-".
func cell(_ v: JSONValue?) -> String {
    guard let v else { return "-" }
    switch v {
    case .null: return "-"
    case .string(let s): return s
    case .bool(let b): return b ? "yes" : "no"
    case .number(let n): return n.literal
    case .array(let a): return a.isEmpty ? "-" : a.map { cell($0) }.joined(separator: ", ")
    case .object: return v.jsonText
    }
}

/// Key/value lines, keys padded to one width.
func keyValues(_ pairs: [(String, String)]) -> String {
    let w = pairs.map { $0.0.count }.max() ?? 0
    return pairs.map { $0.0 + String(repeating: " ", count: w - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
}
