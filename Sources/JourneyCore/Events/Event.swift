/// The kinds of touchpoint Journey records (SPEC §1).
///
/// Raw values are part of the stored binary format: never renumber, only append.
public enum EventType: UInt8, CaseIterable, Sendable, Hashable, Comparable {
    case searchHit = 0
    case webVisit = 1
    case call = 2
    case chat = 3
    case form = 4
    case messageSent = 5
    case messageOpened = 6
    case booking = 7
    case cancellation = 8
    case noShow = 9
    case visit = 10
    case referral = 11
    case identify = 12
    case handoff = 13
    case eligibility = 14

    /// The name used on the wire (`search_hit`, `no_show`, …).
    public var name: String {
        switch self {
        case .searchHit: "search_hit"
        case .webVisit: "web_visit"
        case .call: "call"
        case .chat: "chat"
        case .form: "form"
        case .messageSent: "message_sent"
        case .messageOpened: "message_opened"
        case .booking: "booking"
        case .cancellation: "cancellation"
        case .noShow: "no_show"
        case .visit: "visit"
        case .referral: "referral"
        case .identify: "identify"
        case .handoff: "handoff"
        case .eligibility: "eligibility"
        }
    }

    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        guard let t = EventType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    /// A touch is any event except `identify`, `eligibility` and `handoff` (SPEC §1).
    @inlinable package var isTouch: Bool {
        self != .identify && self != .eligibility && self != .handoff
    }

    /// A contact is a `call`, `chat` or `form` (SPEC §1).
    @inlinable package var isContact: Bool {
        self == .call || self == .chat || self == .form
    }

    /// The channel used when an event of this type names none (SPEC §1).
    /// `handoff` defaults to its `to_channel`, else `chat`; `identify` and `eligibility` have none.
    public var defaultChannel: Channel? {
        switch self {
        case .searchHit: .search
        case .webVisit, .form, .booking: .web
        case .call, .cancellation: .phone
        case .chat, .handoff: .chat
        case .messageSent, .messageOpened: .email
        case .noShow, .visit: .inPerson
        case .referral: .referral
        case .identify, .eligibility: nil
        }
    }

    public static func < (a: EventType, b: EventType) -> Bool { a.rawValue < b.rawValue }
}

/// Where a touchpoint happened (SPEC §1). Raw values are part of the stored format.
public enum Channel: UInt8, CaseIterable, Sendable, Hashable, Comparable {
    case search = 0
    case web = 1
    case social = 2
    case referral = 3
    case phone = 4
    case sms = 5
    case email = 6
    case chat = 7
    case portal = 8
    case inPerson = 9

    public var name: String {
        switch self {
        case .search: "search"
        case .web: "web"
        case .social: "social"
        case .referral: "referral"
        case .phone: "phone"
        case .sms: "sms"
        case .email: "email"
        case .chat: "chat"
        case .portal: "portal"
        case .inPerson: "in_person"
        }
    }

    public init?(name: String) {
        guard let c = Channel.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }

    public static func < (a: Channel, b: Channel) -> Bool { a.name.utf8.lexicographicallyPrecedes(b.name.utf8) }
}

/// Direction of a `call`.
public enum Direction: UInt8, CaseIterable, Sendable, Hashable {
    case inbound = 0
    case outbound = 1

    public var name: String { self == .inbound ? "in" : "out" }
    public init?(name: String) {
        switch name {
        case "in": self = .inbound
        case "out": self = .outbound
        default: return nil
        }
    }
}

/// Outcome of a `call`.
public enum CallOutcome: UInt8, CaseIterable, Sendable, Hashable {
    case answered = 0
    case abandoned = 1
    case missed = 2
    case voicemail = 3

    public var name: String {
        switch self {
        case .answered: "answered"
        case .abandoned: "abandoned"
        case .missed: "missed"
        case .voicemail: "voicemail"
        }
    }
    public init?(name: String) {
        guard let o = CallOutcome.allCases.first(where: { $0.name == name }) else { return nil }
        self = o
    }
}

/// Insurance eligibility status carried by `eligibility` events.
public enum EligibilityStatus: UInt8, CaseIterable, Sendable, Hashable {
    case verified = 0
    case pending = 1
    case denied = 2

    public var name: String {
        switch self {
        case .verified: "verified"
        case .pending: "pending"
        case .denied: "denied"
        }
    }
    public init?(name: String) {
        guard let s = EligibilityStatus.allCases.first(where: { $0.name == name }) else { return nil }
        self = s
    }
}

/// One touchpoint, as parsed and validated (SPEC §1).
///
/// Times are milliseconds since the Unix epoch; `amount` is in cents. Optional fields are nil
/// when absent on the wire. `channel` keeps what the input said (nil when it named none);
/// `effectiveChannel` applies the default by type. `attrs` is sorted by key, so two events that
/// are equal as parsed compare equal whatever the key order of their JSON.
public struct Event: Sendable, Hashable {
    public var id: String
    public var type: EventType
    public var subject: String
    public var at: Int64
    public var channel: Channel?
    public var source: String?
    public var medium: String?
    public var campaign: String?
    public var term: String?
    public var agent: String?
    public var conversation: String?
    public var concern: String?
    public var resolved: Bool?
    public var direction: Direction?
    public var durationS: Int64?
    public var outcome: CallOutcome?
    public var appointment: String?
    public var scheduledFor: Int64?
    public var location: String?
    public var provider: String?
    /// Revenue in cents (the wire form is a decimal with at most 2 places).
    public var amountCents: Int64?
    public var message: String?
    public var referrer: String?
    public var patient: String?
    public var toAgent: String?
    public var toChannel: Channel?
    public var status: EligibilityStatus?
    /// Extra data, sorted by key; keys unique.
    public var attrs: [Attr]

    public struct Attr: Sendable, Hashable {
        public var key: String
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    public init(
        id: String, type: EventType, subject: String, at: Int64,
        channel: Channel? = nil, source: String? = nil, medium: String? = nil,
        campaign: String? = nil, term: String? = nil, agent: String? = nil,
        conversation: String? = nil, concern: String? = nil, resolved: Bool? = nil,
        direction: Direction? = nil, durationS: Int64? = nil, outcome: CallOutcome? = nil,
        appointment: String? = nil, scheduledFor: Int64? = nil, location: String? = nil,
        provider: String? = nil, amountCents: Int64? = nil, message: String? = nil,
        referrer: String? = nil, patient: String? = nil, toAgent: String? = nil,
        toChannel: Channel? = nil, status: EligibilityStatus? = nil, attrs: [Attr] = []
    ) {
        self.id = id
        self.type = type
        self.subject = subject
        self.at = at
        self.channel = channel
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.term = term
        self.agent = agent
        self.conversation = conversation
        self.concern = concern
        self.resolved = resolved
        self.direction = direction
        self.durationS = durationS
        self.outcome = outcome
        self.appointment = appointment
        self.scheduledFor = scheduledFor
        self.location = location
        self.provider = provider
        self.amountCents = amountCents
        self.message = message
        self.referrer = referrer
        self.patient = patient
        self.toAgent = toAgent
        self.toChannel = toChannel
        self.status = status
        self.attrs = attrs.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// The channel the event counts under: its own, else the default of its type
    /// (`handoff`: `to_channel`, else `chat`). nil for `identify`/`eligibility` without one.
    @inlinable public var effectiveChannel: Channel? {
        if let channel { return channel }
        if type == .handoff, let toChannel { return toChannel }
        return type.defaultChannel
    }

    /// An inquiry is a `chat`, a `form`, or a `call` whose direction is not `out` (SPEC §1).
    @inlinable package var isInquiry: Bool {
        switch type {
        case .chat, .form: true
        case .call: direction != .outbound
        default: false
        }
    }

    /// Timeline order (SPEC §3): by `at`, then `id` compared as UTF-8 bytes.
    @inlinable package static func timelineLess(_ a: Event, _ b: Event) -> Bool {
        if a.at != b.at { return a.at < b.at }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }
}
