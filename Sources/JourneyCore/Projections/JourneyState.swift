/// Where a patient is in their journey (SPEC §3.2), first rule that holds.
public enum Stage: UInt8, Sendable, Hashable, CaseIterable {
    /// None of the rules below holds.
    case prospect
    /// At least one inquiry.
    case inquiring
    /// At least one booking.
    case booked
    /// At least one visit.
    case active
    /// At least one visit, and more than 365 days between the latest and `asOf`.
    case lapsed

    /// The name used in reports.
    public var name: String {
        switch self {
        case .prospect: "prospect"
        case .inquiring: "inquiring"
        case .booked: "booked"
        case .active: "active"
        case .lapsed: "lapsed"
        }
    }
}

/// A retention risk flag (SPEC §3.2), listed in this order.
public enum Risk: UInt8, Sendable, Hashable, CaseIterable {
    /// The `lapsed` stage's rule holds.
    case lapsed
    /// At least 3 visits, and more than twice the average gap between them since the latest.
    case overdue
    /// The latest cancellation follows every booking and visit, and is 14 days old.
    case cancelledNotRebooked
    /// The latest no-show follows every booking and visit, and is 7 days old.
    case noShowNotRebooked
    /// At least 4 messages sent, none of the latest 3 opened, an earlier one opened.
    case decliningEngagement

    /// The name used in reports.
    public var name: String {
        switch self {
        case .lapsed: "lapsed"
        case .overdue: "overdue"
        case .cancelledNotRebooked: "cancelled_not_rebooked"
        case .noShowNotRebooked: "no_show_not_rebooked"
        case .decliningEngagement: "declining_engagement"
        }
    }
}

/// Elapsed-time constants of SPEC §3.2, in milliseconds.
enum Durations {
    static let day: Int64 = 86_400_000
    static let lapse: Int64 = 365 * day
    static let cancelGrace: Int64 = 14 * day
    static let noShowGrace: Int64 = 7 * day
}

/// The journey state of one identity cluster (SPEC §3.2).
public struct JourneyState: Sendable, Hashable {
    /// The earliest touch.
    public struct FirstTouch: Sendable, Hashable {
        /// When it happened (ms).
        public var at: Int64
        /// Its event type.
        public var type: EventType
        /// Its effective channel.
        public var channel: Channel?
        /// Marketing source.
        public var source: String?
        /// Marketing medium.
        public var medium: String?
        /// Marketing campaign.
        public var campaign: String?
        /// Marketing term.
        public var term: String?
    }
    /// The latest touch.
    public struct LastTouch: Sendable, Hashable {
        /// When it happened (ms).
        public var at: Int64
        /// Its event type.
        public var type: EventType
        /// Its effective channel.
        public var channel: Channel?
    }

    /// The canonical id of the cluster.
    public var patient: String
    /// The other ids of the cluster, sorted by bytes.
    public var aliases: [String]
    /// The instant the elapsed-time rules were evaluated at (ms).
    public var asOf: Int64
    /// The journey stage.
    public var stage: Stage
    /// The risk flags that hold, in SPEC order.
    public var risk: [Risk]
    /// The earliest touch; nil when there is none.
    public var firstTouch: FirstTouch?
    /// The latest touch; nil when there is none.
    public var lastTouch: LastTouch?
    /// The channel of the first touch.
    public var acquisitionChannel: Channel? { firstTouch?.channel }
    /// Events per type, indexed by `EventType.rawValue`.
    public var counts: [Int]
    /// Touches per channel, indexed by `Channel.rawValue`.
    public var channels: [Int]
    /// The number of inquiries (chat, form, call not outbound).
    public var inquiries: Int
    /// The number of `booking` events.
    public var bookings: Int { counts[Int(EventType.booking.rawValue)] }
    /// The number of `visit` events.
    public var visits: Int { counts[Int(EventType.visit.rawValue)] }
    /// The number of `no_show` events.
    public var noShows: Int { counts[Int(EventType.noShow.rawValue)] }
    /// The number of `cancellation` events.
    public var cancellations: Int { counts[Int(EventType.cancellation.rawValue)] }
    /// The time of the earliest visit (ms).
    public var firstVisitAt: Int64?
    /// The time of the latest visit (ms).
    public var lastVisitAt: Int64?
    /// The sum of visit amounts, in cents.
    public var lifetimeValueCents: Int64
    /// The number of `message_sent` events.
    public var messagesSent: Int { counts[Int(EventType.messageSent.rawValue)] }
    /// Distinct sent message ids that were opened.
    public var messagesOpened: Int
    /// opened / sent; nil when nothing was sent.
    public var openRate: Double? {
        messagesSent == 0 ? nil : Double(messagesOpened) / Double(messagesSent)
    }
    /// The canonical id of the referrer of the earliest referral.
    public var referredBy: String?
    /// Other clusters referred by this one.
    public var referralsMade: Int
    /// Of those, the ones with at least one visit.
    public var referralsConverted: Int

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("patient"); w.string(patient)
        w.key("aliases"); w.beginArray(); for a in aliases { w.string(a) }; w.endArray()
        w.key("as_of"); w.time(ms: asOf)
        w.key("stage"); w.string(stage.name)
        w.key("risk"); w.beginArray(); for r in risk { w.string(r.name) }; w.endArray()
        w.key("first_touch")
        if let t = firstTouch {
            w.beginObject()
            w.key("at"); w.time(ms: t.at)
            w.key("type"); w.string(t.type.name)
            w.key("channel"); w.string(t.channel?.name)
            w.key("source"); w.string(t.source)
            w.key("medium"); w.string(t.medium)
            w.key("campaign"); w.string(t.campaign)
            w.key("term"); w.string(t.term)
            w.endObject()
        } else {
            w.null()
        }
        w.key("last_touch")
        if let t = lastTouch {
            w.beginObject()
            w.key("at"); w.time(ms: t.at)
            w.key("type"); w.string(t.type.name)
            w.key("channel"); w.string(t.channel?.name)
            w.endObject()
        } else {
            w.null()
        }
        w.key("acquisition_channel"); w.string(acquisitionChannel?.name)
        w.key("counts")
        w.beginObject()
        for t in EventType.allCases { w.key(t.name); w.int(counts[Int(t.rawValue)]) }
        w.endObject()
        w.key("channels")
        w.beginObject()
        for c in Channel.allCases { w.key(c.name); w.int(channels[Int(c.rawValue)]) }
        w.endObject()
        w.key("inquiries"); w.int(inquiries)
        w.key("bookings"); w.int(bookings)
        w.key("visits"); w.int(visits)
        w.key("no_shows"); w.int(noShows)
        w.key("cancellations"); w.int(cancellations)
        w.key("first_visit_at"); w.time(ms: firstVisitAt)
        w.key("last_visit_at"); w.time(ms: lastVisitAt)
        w.key("lifetime_value"); w.money(cents: lifetimeValueCents)
        w.key("messages_sent"); w.int(messagesSent)
        w.key("messages_opened"); w.int(messagesOpened)
        w.key("open_rate")
        if let r = openRate { w.double(r) } else { w.null() }
        w.key("referred_by"); w.string(referredBy)
        w.key("referrals_made"); w.int(referralsMade)
        w.key("referrals_converted"); w.int(referralsConverted)
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }
}

/// What the stage and risk rules read, gathered in one pass over a cluster's facts.
struct LifecycleFacts {
    var visits = 0
    var bookings = 0
    var inquiries = 0
    var firstVisit: Int = -1
    var lastVisit: Int = -1
    var lastBooking: Int = -1
    var lastCancellation: Int = -1
    var lastNoShow: Int = -1

    init(_ facts: [Fact]) {
        for (i, f) in facts.enumerated() {
            if f.isInquiry { inquiries += 1 }
            switch f.type {
            case .visit:
                visits += 1
                if firstVisit < 0 { firstVisit = i }
                lastVisit = i
            case .booking: bookings += 1; lastBooking = i
            case .cancellation: lastCancellation = i
            case .noShow: lastNoShow = i
            default: break
            }
        }
    }

    func stage(_ facts: [Fact], asOf: Int64) -> Stage {
        if visits >= 1 {
            return isLapsed(facts, asOf: asOf) ? .lapsed : .active
        }
        if bookings >= 1 { return .booked }
        if inquiries >= 1 { return .inquiring }
        return .prospect
    }

    func isLapsed(_ facts: [Fact], asOf: Int64) -> Bool {
        visits >= 1 && Int128(asOf) - Int128(facts[lastVisit].at) > Int128(Durations.lapse)
    }

    func risk(_ facts: [Fact], asOf: Int64) -> [Risk] {
        var out: [Risk] = []
        if isLapsed(facts, asOf: asOf) { out.append(.lapsed) }
        if visits >= 3 {
            // as_of − last > 2·(last − first)/(visits − 1), exactly, in integers.
            let first = Int128(facts[firstVisit].at), last = Int128(facts[lastVisit].at)
            if (Int128(asOf) - last) * Int128(visits - 1) > 2 * (last - first) { out.append(.overdue) }
        }
        // "After every booking and every visit": later in timeline than the latest of each.
        let lastCare = max(lastBooking, lastVisit)
        if lastCancellation >= 0, lastCancellation > lastCare,
           Int128(asOf) - Int128(facts[lastCancellation].at) >= Int128(Durations.cancelGrace) {
            out.append(.cancelledNotRebooked)
        }
        if lastNoShow >= 0, lastNoShow > lastCare,
           Int128(asOf) - Int128(facts[lastNoShow].at) >= Int128(Durations.noShowGrace) {
            out.append(.noShowNotRebooked)
        }
        if LifecycleFacts.decliningEngagement(facts) { out.append(.decliningEngagement) }
        return out
    }

    /// messages_sent ≥ 4, the 3 latest sends unopened, and an earlier send opened.
    static func decliningEngagement(_ facts: [Fact]) -> Bool {
        var sends: [UInt32] = []
        var opened = Set<UInt32>()
        for f in facts {
            if f.type == .messageSent { sends.append(f.message) }
            else if f.type == .messageOpened, f.message != 0 { opened.insert(f.message) }
        }
        guard sends.count >= 4 else { return false }
        let n = sends.count
        for m in sends[(n - 3)...] where m != 0 && opened.contains(m) { return false }
        for m in sends[..<(n - 3)] where m != 0 && opened.contains(m) { return true }
        return false
    }
}

extension Projector {
    /// The journey state of the cluster holding `id` at `asOf` (the point-in-time view of SPEC
    /// §3.2: only events at or before `asOf` count); nil for an id never seen. A cluster with no
    /// event by then answers an empty journey.
    package func patient(id: String, asOf: Int64) -> JourneyState? {
        guard let root = root(of: id) else { return nil }
        return journeyState(root: root, asOf: asOf)
    }

    /// The journey state of the cluster in slot `root` at `asOf`.
    func journeyState(root: UInt32, asOf: Int64) -> JourneyState {
        var facts: [Fact] = []
        return journeyState(root: root, asOf: asOf, facts: &facts)
    }

    /// The journey state of the cluster in slot `root` at `asOf`, decoding its facts into
    /// `facts` (scratch storage a caller evaluating many clusters reuses). Reads only the
    /// cluster's records up to `asOf`, and for `referrals_made` those of the clusters it referred.
    func journeyState(root: UInt32, asOf: Int64, facts: inout [Fact]) -> JourneyState {
        let c = clusters[Int(root)]
        c.decodeFacts(into: &facts, asOf: asOf)
        var counts = [Int](repeating: 0, count: EventType.allCases.count)
        var channels = [Int](repeating: 0, count: Channel.allCases.count)
        var first: Fact?
        var last: Fact?
        var ltv: Int64 = 0
        var sent = Set<UInt32>()
        var openedIds = Set<UInt32>()
        for f in facts {
            counts[Int(f.type.rawValue)] += 1
            if f.type.isTouch {
                if first == nil { first = f }
                last = f
                if f.channel != Fact.noChannel { channels[Int(f.channel)] += 1 }
            }
            switch f.type {
            case .visit:
                // Saturate rather than trap on absurd totals.
                let (sum, overflow) = ltv.addingReportingOverflow(f.amountCents)
                ltv = overflow ? (f.amountCents > 0 ? .max : .min) : sum
            case .messageSent: if f.message != 0 { sent.insert(f.message) }
            case .messageOpened: if f.message != 0 { openedIds.insert(f.message) }
            default: break
            }
        }
        let life = LifecycleFacts(facts)
        let (made, converted) = referrals(root: root, asOf: asOf)
        return JourneyState(
            patient: canonicalName(root),
            aliases: aliases(root),
            asOf: asOf,
            stage: life.stage(facts, asOf: asOf),
            risk: life.risk(facts, asOf: asOf),
            firstTouch: first.map {
                .init(at: $0.at, type: $0.type, channel: $0.effectiveChannel,
                      source: values.optional($0.source), medium: values.optional($0.medium),
                      campaign: values.optional($0.campaign), term: values.optional($0.term))
            },
            lastTouch: last.map { .init(at: $0.at, type: $0.type, channel: $0.effectiveChannel) },
            counts: counts,
            channels: channels,
            inquiries: life.inquiries,
            firstVisitAt: life.firstVisit >= 0 ? facts[life.firstVisit].at : nil,
            lastVisitAt: life.lastVisit >= 0 ? facts[life.lastVisit].at : nil,
            lifetimeValueCents: ltv,
            messagesOpened: openedIds.intersection(sent).count,
            referredBy: referredBy(facts),
            referralsMade: made,
            referralsConverted: converted)
    }

    /// The canonical id of the referrer of the earliest referral among `facts` (a cluster's
    /// facts up to some time), nil when there is none.
    func referredBy(_ facts: [Fact]) -> String? {
        guard let r = facts.first(where: { $0.type == .referral && $0.other != Fact.none }) else { return nil }
        return canonicalName(clusterOf[Int(r.other)])
    }

    /// Other clusters whose earliest referral names an id of this cluster and happened at or
    /// before `asOf`, and how many of them had visited by then.
    func referrals(root: UInt32, asOf: Int64) -> (made: Int, converted: Int) {
        var seen = Set<UInt32>()
        var made = 0, converted = 0
        for m in members(root) {
            guard let list = referredBy[m] else { continue }
            for r in list where r != root && seen.insert(r).inserted {
                // Its earliest referral is the one naming `m`: the first referral up to `asOf`,
                // when there is one.
                var referred = false, visited = false
                clusters[Int(r)].forEachFact(upTo: asOf) { f in
                    if f.type == .referral, f.other != Fact.none { referred = true }
                    if f.type == .visit { visited = true }
                }
                guard referred else { continue }
                made += 1
                if visited { converted += 1 }
            }
        }
        return (made, converted)
    }
}
