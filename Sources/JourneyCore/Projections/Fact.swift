/// One event as the projections of SPEC §3 read it: interned strings and small integers.
///
/// Clusters do not hold `Fact`s: they keep their events as compact records (`FactRecord`) and
/// decode them into `Fact`s when a query reads them.
struct Fact: Sendable {
    static let none: UInt32 = .max
    static let noChannel: UInt8 = .max
    static let noTime: Int64 = .min
    static let noStatus: UInt8 = .max

    var at: Int64
    var type: EventType
    /// `effectiveChannel` raw value, or `noChannel`.
    var channel: UInt8
    var flags: UInt8
    /// `EligibilityStatus` (or, for a consent, `ConsentStatus`) raw value, or `noStatus`.
    var status: UInt8
    /// Interned subject id of an `identify` or `unlink` (the only facts whose subject a query
    /// reads), else `Fact.none`.
    var subject: UInt32
    /// Interned `patient` (identify, unlink) or `referrer` (referral) id, else `Fact.none`.
    var other: UInt32
    // Interned values (0 = absent); `conversation`, `message` and `appointment` are inline
    // tokens instead (`FactRecord.inlineBytes`), equal for equal strings once `InlineTokens`
    // settled them.
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
    /// Interned `AttrsText` of the event's attrs (0 = none).
    var attrs: UInt32
    var scheduledFor: Int64
    var amountCents: Int64

    static let inquiryFlag: UInt8 = 1
    static let resolvedFlag: UInt8 = 2

    var isInquiry: Bool { flags & Fact.inquiryFlag != 0 }
    var isResolved: Bool { flags & Fact.resolvedFlag != 0 }
    var effectiveChannel: Channel? { channel == Fact.noChannel ? nil : Channel(rawValue: channel) }

    init(at: Int64, type: EventType) {
        self.at = at
        self.type = type
        channel = Fact.noChannel
        flags = 0
        status = Fact.noStatus
        subject = Fact.none
        other = Fact.none
        source = 0; medium = 0; campaign = 0; term = 0; agent = 0; conversation = 0
        concern = 0; message = 0; appointment = 0; location = 0; provider = 0; attrs = 0
        scheduledFor = Fact.noTime
        amountCents = 0
    }
}
