import JourneyCore
import JourneyProtocol

/// Readable renderings of the answers of SPEC §5, from their typed values (decoded by
/// JourneyProtocol), so the output is the same whether the answer came from the store or a daemon.
enum Reports {
    static func patient(_ s: JourneyState) -> String {
        var pairs: [(String, String)] = [
            ("patient", s.patient), ("aliases", cell(s.aliases)), ("as of", cell(time: s.asOf)),
            ("stage", s.stage.name), ("risk", cell(s.risk.map(\.name))),
            ("acquisition", cell(s.acquisitionChannel?.name)),
        ]
        if let ft = s.firstTouch {
            let attribution = [("source", ft.source), ("medium", ft.medium), ("campaign", ft.campaign), ("term", ft.term)]
                .compactMap { k, v -> String? in v.map { "\(k)=\($0)" } }
                .joined(separator: " ")
            pairs.append(("first touch", "\(cell(time: ft.at)) \(ft.type.name) via \(cell(ft.channel?.name)) \(attribution)"))
        }
        if let lt = s.lastTouch {
            pairs.append(("last touch", "\(cell(time: lt.at)) \(lt.type.name) via \(cell(lt.channel?.name))"))
        }
        pairs += [
            ("inquiries", "\(s.inquiries)"), ("bookings", "\(s.bookings)"), ("visits", "\(s.visits)"),
            ("no-shows", "\(s.noShows)"), ("cancellations", "\(s.cancellations)"),
            ("first visit", cell(time: s.firstVisitAt)), ("last visit", cell(time: s.lastVisitAt)),
            ("lifetime value", cell(cents: s.lifetimeValueCents)),
            ("messages", "\(s.messagesSent) sent, \(s.messagesOpened) opened, open rate \(cell(rate: s.openRate))"),
            ("referred by", cell(s.referredBy)),
            ("referrals", "\(s.referralsMade) made, \(s.referralsConverted) converted"),
        ]
        let channels = Channel.allCases.filter { s.channels[Int($0.rawValue)] != 0 }
            .map { "\($0.name) \(s.channels[Int($0.rawValue)])" }.joined(separator: ", ")
        pairs.append(("touches by channel", channels.isEmpty ? "-" : channels))
        return keyValues(pairs)
    }

    static func handoff(_ h: HandoffContext) -> String {
        var out = keyValues([
            ("patient", h.patient), ("aliases", cell(h.aliases)), ("as of", cell(time: h.asOf)),
            ("stage", h.stage.name), ("risk", cell(h.risk.map(\.name))),
            ("acquisition", cell(h.acquisitionChannel?.name)),
            ("eligibility", h.eligibility),
            ("consent", h.consent.isEmpty ? "-"
                : Channel.allCases.compactMap { c in h.consent[c].map { "\(c.name) \($0)" } }.joined(separator: ", ")),
            ("no-shows", "\(h.noShows)"), ("cancellations", "\(h.cancellations)"),
            ("referred by", cell(h.referredBy)),
            ("conversation", "\(cell(h.conversation)) (\(cell(h.conversationStatus)))"),
            ("concern", cell(h.concern)), ("channels", cell(h.channels.map(\.name))),
            ("contacts", "\(h.contacts)"), ("handoffs", "\(h.handoffs)"),
            ("last agent", cell(h.lastAgent)),
            ("attrs", h.attrs.map { $0.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") } ?? "-"),
            ("upcoming", upcoming(h.upcoming)),
        ])
        var t = Table(["at", "type", "channel", "agent", "concern"])
        for r in h.recent {
            t.add([cell(time: r.at), r.type.name, cell(r.channel?.name), cell(r.agent), cell(r.concern)])
        }
        out += "\n\nrecent touches\n" + t.render()
        return out
    }

    private static func upcoming(_ u: HandoffContext.Upcoming?) -> String {
        guard let u else { return "-" }
        return "\(cell(u.appointment)) at \(cell(time: u.scheduledFor)), \(cell(u.location)) with \(cell(u.provider))"
    }

    static func funnel(_ f: FunnelReport) -> String {
        let steps = f.steps
        var t = Table([f.by.name] + steps.enumerated().map { "\($0.offset + 1). \($0.element)" } + ["conversion"],
                      rightAligned: Set(1...(steps.count + 1)))
        var totals = [Int64](repeating: 0, count: steps.count)
        for g in f.groups {
            let counts = g.steps.map { Int64($0.count) }
            for (i, c) in counts.enumerated() where i < totals.count { totals[i] += c }
            t.add([cell(g.value)] + counts.map(String.init) + [percent(counts.last, counts.first)])
        }
        t.add(["all"] + totals.map(String.init) + [percent(totals.last, totals.first)])
        var out = "funnel \(steps.joined(separator: " → ")), window \(f.windowMs / 1000)s\n" + t.render()
        // Median time between steps, per group.
        var m = Table([f.by.name] + steps.dropFirst().map { "→ \($0)" }, rightAligned: Set(1..<steps.count))
        for g in f.groups {
            let medians = g.steps.dropFirst().map { s -> String in
                guard let ms = s.medianMs else { return "-" }
                return duration(ms)
            }
            m.add([cell(g.value)] + medians)
        }
        out += "\n\nmedian time to step\n" + m.render()
        return out
    }

    static func contacts(_ c: ContactsReport) -> String {
        var t = Table(["channel", "conversations", "resolved", "first-contact", "FCR %", "handoffs"],
                      rightAligned: [1, 2, 3, 4, 5])
        for r in c.channels {
            t.add([r.channel.name, "\(r.conversations)", "\(r.resolved)", "\(r.firstContactResolved)",
                   percent(Int64(r.firstContactResolved), Int64(r.conversations)), "\(r.handoffs)"])
        }
        return t.render()
    }

    static func atRisk(_ page: AtRiskPage) -> String {
        var t = Table(["patient", "stage", "risk"])
        for p in page.patients {
            t.add([p.patient, p.stage.name, cell(p.risk.map(\.name))])
        }
        var out = "at risk as of \(cell(time: page.asOf))\n" + t.render()
        if let next = page.next { out += "\nmore: --after \(next)" }
        return out
    }

    static func stats(_ s: StatsAnswer) -> String {
        var rebuilding = "-"
        if let r = s.rebuilding {
            var w = JSONWriter()
            r.write(into: &w)
            rebuilding = w.string
        }
        return keyValues([
            ("events", "\(s.events)"), ("last_position", "\(s.lastPosition)"),
            ("projected_position", "\(s.projectedPosition)"), ("clusters", "\(s.clusters)"),
            ("map_size", "\(s.mapSize)"), ("map_used", "\(s.mapUsed)"), ("file_size", "\(s.fileSize)"),
            ("rebuilding", rebuilding), ("last_rebuild_failure", cell(s.lastRebuildFailure)),
            ("last_signal_seq", "\(s.lastSignalSeq)"),
        ] + s.consumers.map { c in
            ("consumer \(cell(c.name))", "acked=\(c.acked) lag=\(c.lag)")
        })
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
