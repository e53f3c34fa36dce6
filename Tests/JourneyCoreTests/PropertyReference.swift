@testable import JourneyCore

/// A deliberately naive reference for SPEC §3, recomputed from scratch from the whole event
/// list with the simplest algorithms (no interning, no incremental state), to check the
/// projector against.
struct PropertyReference {
    let events: [Event]
    /// id → cluster index.
    var clusterOf: [String: Int] = [:]
    /// Per cluster: ids, events in timeline order, canonical id.
    var members: [[String]] = []
    var timelines: [[Event]] = []
    var canonical: [String] = []

    init(_ events: [Event]) {
        self.events = events
        // All ids.
        var all: [String] = []
        var seen = Set<String>()
        func add(_ s: String?) { if let s, seen.insert(s).inserted { all.append(s) } }
        for e in events {
            add(e.subject)
            if e.type == .identify { add(e.patient) }
            if e.type == .referral { add(e.referrer) }
        }
        // Connected components by repeated flood fill over identify edges.
        var adjacency: [String: [String]] = [:]
        for e in events where e.type == .identify {
            guard let p = e.patient else { continue }
            adjacency[e.subject, default: []].append(p)
            adjacency[p, default: []].append(e.subject)
        }
        for id in all where clusterOf[id] == nil {
            let c = members.count
            var stack = [id]
            var ids: [String] = []
            clusterOf[id] = c
            while let x = stack.popLast() {
                ids.append(x)
                for y in adjacency[x] ?? [] where clusterOf[y] == nil {
                    clusterOf[y] = c
                    stack.append(y)
                }
            }
            members.append(ids)
        }
        timelines = Array(repeating: [], count: members.count)
        for e in events { timelines[clusterOf[e.subject]!].append(e) }
        for c in timelines.indices { timelines[c].sort(by: Event.timelineLess) }
        for c in members.indices {
            let identifies = timelines[c].filter { $0.type == .identify && $0.patient != nil }
            if identifies.isEmpty { canonical.append(members[c][0]); continue }
            let subjects = Set(identifies.map(\.subject))
            let sinks = members[c].filter { !subjects.contains($0) }
            if sinks.count == 1 {
                canonical.append(sinks[0])
            } else if sinks.isEmpty {
                canonical.append(identifies[0].patient!)
            } else {
                canonical.append(identifies.first { sinks.contains($0.patient!) }!.patient!)
            }
        }
    }

    var allIds: [String] { clusterOf.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

    /// The cluster's events at or before `asOf` (the point-in-time view).
    func timeline(_ c: Int, asOf: Int64) -> [Event] {
        timelines[c].filter { $0.at <= asOf }
    }

    func referredBy(_ c: Int, asOf: Int64) -> Int? {
        guard let r = timeline(c, asOf: asOf).first(where: { $0.type == .referral && $0.referrer != nil }) else { return nil }
        return clusterOf[r.referrer!]
    }

    func stageAndRisk(_ c: Int, asOf: Int64) -> (Stage, [Risk]) {
        let tl = timeline(c, asOf: asOf)
        let visits = tl.filter { $0.type == .visit }
        let bookings = tl.filter { $0.type == .booking }
        let inquiries = tl.filter(\.isInquiry)
        let year: Int64 = 365 * 86_400_000
        let lapsed = !visits.isEmpty && asOf - visits.last!.at > year
        let stage: Stage = lapsed ? .lapsed : !visits.isEmpty ? .active : !bookings.isEmpty ? .booked
            : !inquiries.isEmpty ? .inquiring : .prospect
        var risk: [Risk] = []
        if lapsed { risk.append(.lapsed) }
        if visits.count >= 3 {
            let first = visits.first!.at, last = visits.last!.at
            if (asOf - last) * Int64(visits.count - 1) > 2 * (last - first) { risk.append(.overdue) }
        }
        func notRebooked(_ type: EventType, _ days: Int64) -> Bool {
            guard let x = tl.last(where: { $0.type == type }) else { return false }
            let afterAll = tl.allSatisfy { ($0.type != .booking && $0.type != .visit) || Event.timelineLess($0, x) }
            return afterAll && asOf - x.at >= days * 86_400_000
        }
        if notRebooked(.cancellation, 14) { risk.append(.cancelledNotRebooked) }
        if notRebooked(.noShow, 7) { risk.append(.noShowNotRebooked) }
        let sends = tl.filter { $0.type == .messageSent }
        let opened = Set(tl.filter { $0.type == .messageOpened }.compactMap(\.message))
        func isOpened(_ e: Event) -> Bool { e.message.map { opened.contains($0) } ?? false }
        if sends.count >= 4, !sends.suffix(3).contains(where: isOpened), sends.dropLast(3).contains(where: isOpened) {
            risk.append(.decliningEngagement)
        }
        return (stage, risk)
    }

    func aliases(_ c: Int) -> [String] {
        members[c].filter { $0 != canonical[c] }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    func state(_ id: String, asOf: Int64) -> JourneyState? {
        guard let c = clusterOf[id] else { return nil }
        let tl = timeline(c, asOf: asOf)
        let touches = tl.filter { $0.type.isTouch }
        var counts = [Int](repeating: 0, count: EventType.allCases.count)
        for e in tl { counts[Int(e.type.rawValue)] += 1 }
        var channels = [Int](repeating: 0, count: Channel.allCases.count)
        for e in touches { channels[Int(e.effectiveChannel!.rawValue)] += 1 }
        let visits = tl.filter { $0.type == .visit }
        let sentIds = Set(tl.filter { $0.type == .messageSent }.compactMap(\.message))
        let openedIds = Set(tl.filter { $0.type == .messageOpened }.compactMap(\.message))
        let others = members.indices.filter { $0 != c && referredBy($0, asOf: asOf) == c }
        let (stage, risk) = stageAndRisk(c, asOf: asOf)
        return JourneyState(
            patient: canonical[c], aliases: aliases(c), asOf: asOf, stage: stage, risk: risk,
            firstTouch: touches.first.map {
                .init(at: $0.at, type: $0.type, channel: $0.effectiveChannel, source: $0.source,
                      medium: $0.medium, campaign: $0.campaign, term: $0.term)
            },
            lastTouch: touches.last.map { .init(at: $0.at, type: $0.type, channel: $0.effectiveChannel) },
            counts: counts, channels: channels, inquiries: tl.filter(\.isInquiry).count,
            firstVisitAt: visits.first?.at, lastVisitAt: visits.last?.at,
            lifetimeValueCents: visits.reduce(0) { $0 + ($1.amountCents ?? 0) },
            messagesOpened: sentIds.intersection(openedIds).count,
            referredBy: referredBy(c, asOf: asOf).map { canonical[$0] },
            referralsMade: others.count,
            referralsConverted: others.filter { timeline($0, asOf: asOf).contains { $0.type == .visit } }.count)
    }

    func handoff(_ id: String, asOf: Int64) -> HandoffContext? {
        guard let c = clusterOf[id] else { return nil }
        let tl = timeline(c, asOf: asOf)
        let conv = tl.last { $0.conversation != nil }?.conversation
        let ce = tl.filter { conv != nil && $0.conversation == conv }
        var chans: [Channel] = []
        for e in ce where e.type.isTouch && !chans.contains(e.effectiveChannel!) { chans.append(e.effectiveChannel!) }
        let closed = Set(tl.filter { [.cancellation, .noShow, .visit].contains($0.type) }.compactMap(\.appointment))
        let open = tl.filter {
            $0.type == .booking && ($0.scheduledFor ?? .min) > asOf && !($0.appointment.map { closed.contains($0) } ?? false)
        }
        let next = open.min { ($0.scheduledFor!, 0) < ($1.scheduledFor!, 0) }
        return HandoffContext(
            patient: canonical[c], aliases: aliases(c), asOf: asOf, stage: stageAndRisk(c, asOf: asOf).0,
            risk: stageAndRisk(c, asOf: asOf).1,
            acquisitionChannel: tl.first { $0.type.isTouch }?.effectiveChannel,
            eligibility: tl.last { $0.type == .eligibility }?.status?.name ?? "unknown",
            noShows: tl.filter { $0.type == .noShow }.count,
            cancellations: tl.filter { $0.type == .cancellation }.count,
            referredBy: referredBy(c, asOf: asOf).map { canonical[$0] },
            consent: [:],
            conversation: conv,
            conversationStatus: conv == nil ? nil : ce.contains { $0.resolved == true } ? "resolved" : "open",
            concern: ce.last { !($0.concern ?? "").isEmpty }?.concern,
            channels: chans, contacts: ce.filter { $0.type.isContact }.count,
            lastAgent: ce.last { $0.agent != nil }?.agent,
            handoffs: ce.filter { $0.type == .handoff }.count,
            attrs: ce.last { !$0.attrs.isEmpty }?.attrs,
            upcoming: next.map { .init(appointment: $0.appointment, scheduledFor: $0.scheduledFor!, location: $0.location, provider: $0.provider) },
            recent: tl.filter { $0.type.isTouch }.suffix(10).reversed().map {
                .init(at: $0.at, type: $0.type, channel: $0.effectiveChannel, agent: $0.agent, concern: $0.concern)
            })
    }

    func funnel(_ q: FunnelQuery) -> FunnelReport {
        func matches(_ s: FunnelStep, _ e: Event) -> Bool {
            switch s {
            case .touch: e.type.isTouch
            case .inquiry: e.isInquiry
            case .type(let t): e.type == t
            }
        }
        var groups: [String?: [[Event]]] = [:]
        for tl in timelines {
            var best: [Event]?
            for entry in tl where matches(q.steps[0], entry) {
                if let f = q.from, entry.at < f { continue }
                if let t = q.to, entry.at >= t { continue }
                var path = [entry]
                while path.count < q.steps.count {
                    let prev = path.last!
                    guard let nextEvent = tl.first(where: {
                        Event.timelineLess(prev, $0) && matches(q.steps[path.count], $0) && $0.at - entry.at <= q.windowMs
                    }) else { break }
                    path.append(nextEvent)
                }
                if let b = best {
                    if path.count > b.count || (path.count == b.count && Event.timelineLess(path.last!, b.last!)) {
                        best = path
                    }
                } else {
                    best = path
                }
            }
            guard let best else { continue }
            let e = best[0]
            let value: String? = switch q.by {
            case .channel: e.effectiveChannel?.name
            case .type: e.type.name
            case .source: e.source
            case .medium: e.medium
            case .campaign: e.campaign
            case .term: e.term
            case .none: nil
            }
            groups[value, default: []].append(best)
        }
        if q.by == .none && groups.isEmpty { groups[nil] = [] }
        var out: [FunnelReport.Group] = groups.map { value, paths in
            let steps = q.steps.indices.map { k -> FunnelReport.Step in
                let reached = paths.filter { $0.count > k }
                var median: Int64?
                if k > 0 && !reached.isEmpty {
                    let gaps = reached.map { $0[k].at - $0[k - 1].at }.sorted()
                    let m = gaps.count / 2
                    median = gaps.count % 2 == 1 ? gaps[m] : (gaps[m - 1] + gaps[m]) / 2
                }
                return .init(step: q.steps[k].name, count: reached.count, medianMs: median)
            }
            return .init(value: value, steps: steps)
        }
        out.sort {
            if $0.steps[0].count != $1.steps[0].count { return $0.steps[0].count > $1.steps[0].count }
            guard let a = $0.value else { return false }
            guard let b = $1.value else { return true }
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        return FunnelReport(steps: q.steps.map(\.name), windowMs: q.windowMs, by: q.by, groups: out)
    }

    func contacts() -> ContactsReport {
        var rows: [Channel: ContactsReport.Row] = [:]
        for tl in timelines {
            let convs = Set(tl.compactMap(\.conversation))
            for conv in convs {
                let ce = tl.filter { $0.conversation == conv }
                guard let first = ce.first(where: { $0.type.isContact }) else { continue }
                let ch = first.effectiveChannel!
                var row = rows[ch] ?? .init(channel: ch, conversations: 0, resolved: 0, firstContactResolved: 0, handoffs: 0)
                row.conversations += 1
                let firstResolved = ce.first { $0.resolved == true }
                if firstResolved != nil { row.resolved += 1 }
                if firstResolved?.id == first.id { row.firstContactResolved += 1 }
                row.handoffs += ce.filter { $0.type == .handoff }.count
                rows[ch] = row
            }
        }
        return ContactsReport(channels: rows.values.sorted { $0.channel.name < $1.channel.name })
    }

    func atRisk(asOf: Int64) -> [AtRiskPage.Entry] {
        members.indices.compactMap { c -> AtRiskPage.Entry? in
            let (stage, risk) = stageAndRisk(c, asOf: asOf)
            return risk.isEmpty ? nil : .init(patient: canonical[c], stage: stage, risk: risk)
        }.sorted { $0.patient.utf8.lexicographicallyPrecedes($1.patient.utf8) }
    }
}
