import JourneyCore

/// Readable renderings of the JSON answers of SPEC §5. Rendering from the JSON (rather than the
/// Swift values) keeps the output identical whether the answer came from the store or a daemon.
enum Reports {
    static func patient(_ j: JSONValue) -> String {
        var pairs: [(String, String)] = [
            ("patient", cell(j["patient"])), ("aliases", cell(j["aliases"])), ("as of", cell(j["as_of"])),
            ("stage", cell(j["stage"])), ("risk", cell(j["risk"])),
            ("acquisition", cell(j["acquisition_channel"])),
        ]
        if let ft = j["first_touch"], !ft.isNull {
            let attribution = ["source", "medium", "campaign", "term"].compactMap { k -> String? in
                guard let v = ft[k]?.stringValue else { return nil }
                return "\(k)=\(v)"
            }.joined(separator: " ")
            pairs.append(("first touch", "\(cell(ft["at"])) \(cell(ft["type"])) via \(cell(ft["channel"])) \(attribution)"))
        }
        if let lt = j["last_touch"], !lt.isNull {
            pairs.append(("last touch", "\(cell(lt["at"])) \(cell(lt["type"])) via \(cell(lt["channel"]))"))
        }
        pairs += [
            ("inquiries", cell(j["inquiries"])), ("bookings", cell(j["bookings"])), ("visits", cell(j["visits"])),
            ("no-shows", cell(j["no_shows"])), ("cancellations", cell(j["cancellations"])),
            ("first visit", cell(j["first_visit_at"])), ("last visit", cell(j["last_visit_at"])),
            ("lifetime value", cell(j["lifetime_value"])),
            ("messages", "\(cell(j["messages_sent"])) sent, \(cell(j["messages_opened"])) opened, open rate \(cell(j["open_rate"]))"),
            ("referred by", cell(j["referred_by"])),
            ("referrals", "\(cell(j["referrals_made"])) made, \(cell(j["referrals_converted"])) converted"),
        ]
        let channels = (j["channels"]?.objectValue ?? []).filter { $0.value.int64Value != 0 }
            .map { "\($0.key) \(cell($0.value))" }.joined(separator: ", ")
        pairs.append(("touches by channel", channels.isEmpty ? "-" : channels))
        return keyValues(pairs)
    }

    static func handoff(_ j: JSONValue) -> String {
        var out = keyValues([
            ("patient", cell(j["patient"])), ("aliases", cell(j["aliases"])), ("as of", cell(j["as_of"])),
            ("stage", cell(j["stage"])), ("acquisition", cell(j["acquisition_channel"])),
            ("eligibility", cell(j["eligibility"])),
            ("conversation", "\(cell(j["conversation"])) (\(cell(j["conversation_status"])))"),
            ("concern", cell(j["concern"])), ("channels", cell(j["channels"])),
            ("contacts", cell(j["contacts"])), ("handoffs", cell(j["handoffs"])),
            ("last agent", cell(j["last_agent"])),
            ("upcoming", upcoming(j["upcoming"])),
        ])
        var t = Table(["at", "type", "channel", "agent", "concern"])
        for r in j["recent"]?.arrayValue ?? [] {
            t.add([cell(r["at"]), cell(r["type"]), cell(r["channel"]), cell(r["agent"]), cell(r["concern"])])
        }
        out += "\n\nrecent touches\n" + t.render()
        return out
    }

    private static func upcoming(_ u: JSONValue?) -> String {
        guard let u, !u.isNull else { return "-" }
        return "\(cell(u["appointment"])) at \(cell(u["scheduled_for"])), \(cell(u["location"])) with \(cell(u["provider"]))"
    }

    static func funnel(_ j: JSONValue) -> String {
        let steps = (j["steps"]?.arrayValue ?? []).map { cell($0) }
        var t = Table([cell(j["by"])] + steps.enumerated().map { "\($0.offset + 1). \($0.element)" } + ["conversion"],
                      rightAligned: Set(1...(steps.count + 1)))
        var totals = [Int64](repeating: 0, count: steps.count)
        for g in j["groups"]?.arrayValue ?? [] {
            let counts = (g["steps"]?.arrayValue ?? []).map { $0["count"]?.int64Value ?? 0 }
            for (i, c) in counts.enumerated() where i < totals.count { totals[i] += c }
            t.add([cell(g["value"])] + counts.map(String.init) + [percent(counts.last, counts.first)])
        }
        t.add(["all"] + totals.map(String.init) + [percent(totals.last, totals.first)])
        var out = "funnel \(steps.joined(separator: " → ")), window \(cell(j["window_s"]))s\n" + t.render()
        // Median time between steps, per group.
        var m = Table([cell(j["by"])] + steps.dropFirst().map { "→ \($0)" }, rightAligned: Set(1..<steps.count))
        for g in j["groups"]?.arrayValue ?? [] {
            let medians = (g["steps"]?.arrayValue ?? []).dropFirst().map { s -> String in
                guard let ms = s["median_ms"]?.int64Value else { return "-" }
                return duration(ms)
            }
            m.add([cell(g["value"])] + medians)
        }
        out += "\n\nmedian time to step\n" + m.render()
        return out
    }

    static func contacts(_ j: JSONValue) -> String {
        var t = Table(["channel", "conversations", "resolved", "first-contact", "FCR %", "handoffs"],
                      rightAligned: [1, 2, 3, 4, 5])
        for c in j["channels"]?.arrayValue ?? [] {
            t.add([cell(c["channel"]), cell(c["conversations"]), cell(c["resolved"]),
                   cell(c["first_contact_resolved"]),
                   percent(c["first_contact_resolved"]?.int64Value, c["conversations"]?.int64Value),
                   cell(c["handoffs"])])
        }
        return t.render()
    }

    static func atRisk(_ j: JSONValue) -> String {
        var t = Table(["patient", "stage", "risk"])
        for p in j["patients"]?.arrayValue ?? [] {
            t.add([cell(p["patient"]), cell(p["stage"]), cell(p["risk"])])
        }
        var out = "at risk as of \(cell(j["as_of"]))\n" + t.render()
        if let next = j["next"]?.stringValue { out += "\nmore: --after \(next)" }
        return out
    }

    static func flat(_ j: JSONValue) -> String {
        keyValues((j.objectValue ?? []).filter { $0.key != "ok" }.map { ($0.key, cell($0.value)) })
    }

    static func percent(_ part: Int64?, _ whole: Int64?) -> String {
        guard let part, let whole, whole > 0 else { return "-" }
        let tenths = (part * 1000 + whole / 2) / whole
        return "\(tenths / 10).\(tenths % 10)%"
    }

    static func duration(_ ms: Int64) -> String {
        let s = ms / 1000
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86_400)d"
    }
}
