/// The compact form of one event kept in its cluster: interned strings and small integers,
/// only what the projections of SPEC §3 read.
struct Fact: Sendable {
    static let none: UInt32 = .max
    static let noChannel: UInt8 = .max
    static let noTime: Int64 = .min

    var at: Int64
    /// The event id, kept for timeline ties (equal `at`) and identity of facts.
    var id: String
    var type: EventType
    /// `effectiveChannel` raw value, or `noChannel`.
    var channel: UInt8
    var flags: UInt8
    /// `EligibilityStatus` raw value, or `.max`.
    var status: UInt8
    /// Interned subject id.
    var subject: UInt32
    /// Interned `patient` (identify) or `referrer` (referral) id, else `Fact.none`.
    var other: UInt32
    // Interned values (0 = absent).
    var source: UInt32
    var medium: UInt32
    var campaign: UInt32
    var term: UInt32
    var agent: UInt32
    var conversation: UInt32
    var concern: UInt32
    var message: UInt32
    var appointment: UInt32
    var location: UInt32
    var provider: UInt32
    var scheduledFor: Int64
    var amountCents: Int64

    static let inquiryFlag: UInt8 = 1
    static let resolvedFlag: UInt8 = 2

    var isInquiry: Bool { flags & Fact.inquiryFlag != 0 }
    var isResolved: Bool { flags & Fact.resolvedFlag != 0 }
    var effectiveChannel: Channel? { channel == Fact.noChannel ? nil : Channel(rawValue: channel) }

    /// Timeline order (SPEC §3): by `at`, then id as bytes.
    @inlinable static func less(_ a: Fact, _ b: Fact) -> Bool {
        if a.at != b.at { return a.at < b.at }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }
}

/// One identity cluster: its ids and its events in timeline order.
struct Cluster: Sendable {
    var members: [UInt32] = []
    /// Facts sorted by timeline order.
    var facts: [Fact] = []
    /// Interned canonical id (SPEC §3.1), cached.
    var canonical: UInt32 = 0
    /// Interned `referrer` of the earliest referral, or `Fact.none`.
    var referrer: UInt32 = Fact.none

    var isRoot: Bool { !members.isEmpty }

    /// Inserts keeping timeline order; the usual late-arriving-last case is an append.
    mutating func insert(_ f: Fact) {
        if let last = facts.last, Fact.less(f, last) {
            var lo = 0, hi = facts.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if Fact.less(f, facts[mid]) { hi = mid } else { lo = mid + 1 }
            }
            facts.insert(f, at: lo)
        } else {
            facts.append(f)
        }
    }

    /// Merges another cluster's sorted facts into ours.
    mutating func mergeFacts(_ other: [Fact]) {
        guard !other.isEmpty else { return }
        if facts.isEmpty { facts = other; return }
        if !Fact.less(other[0], facts[facts.count - 1]) { facts.append(contentsOf: other); return }
        if Fact.less(other[other.count - 1], facts[0]) {
            facts.insert(contentsOf: other, at: 0)
            return
        }
        var out: [Fact] = []
        out.reserveCapacity(facts.count + other.count)
        var i = 0, j = 0
        while i < facts.count && j < other.count {
            if Fact.less(other[j], facts[i]) { out.append(other[j]); j += 1 } else { out.append(facts[i]); i += 1 }
        }
        out.append(contentsOf: facts[i...])
        out.append(contentsOf: other[j...])
        facts = out
    }
}
