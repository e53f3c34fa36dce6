/// The kinds of touchpoint Journey records (SPEC §1).
///
/// Raw values are part of the stored binary format: never renumber, only append.
public enum EventType: UInt8, CaseIterable, Sendable, Hashable, Comparable {
    /// A search-engine result or ad shown or clicked (default channel `search`).
    case searchHit = 0
    /// A visit to the practice's website (default channel `web`).
    case webVisit = 1
    /// A phone call, inbound unless `direction` is `out` (default channel `phone`).
    case call = 2
    /// A chat conversation (default channel `chat`).
    case chat = 3
    /// A web form submitted (default channel `web`).
    case form = 4
    /// A message (email, text, …) sent to the subject; `message` names it.
    case messageSent = 5
    /// A sent message opened; matched to its send by `message`.
    case messageOpened = 6
    /// An appointment booked (`appointment`, `scheduled_for`).
    case booking = 7
    /// An appointment cancelled.
    case cancellation = 8
    /// An appointment missed without notice.
    case noShow = 9
    /// An appointment attended; `amount` is its revenue.
    case visit = 10
    /// The subject was referred by `referrer`.
    case referral = 11
    /// Links the subject, as an alias, to the id in `patient`.
    case identify = 12
    /// A conversation handed to another agent (`to_agent`) or channel (`to_channel`).
    case handoff = 13
    /// An insurance eligibility check; `status` is its result.
    case eligibility = 14
    /// Withdraws the subject's alias of the id in `patient` (an earlier `identify` of the pair).
    case unlink = 15
    /// The subject agrees (`status` `granted`) or no longer agrees (`revoked`) to be contacted
    /// on `channel`, which it must name.
    case consent = 16

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
        case .unlink: "unlink"
        case .consent: "consent"
        }
    }

    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        guard let t = EventType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    /// A touch is any event except `identify`, `unlink`, `eligibility`, `consent` and `handoff`
    /// (SPEC §1).
    @inlinable package var isTouch: Bool {
        self != .identify && self != .eligibility && self != .handoff && self != .unlink && self != .consent
    }

    /// A contact is a `call`, `chat` or `form` (SPEC §1).
    @inlinable package var isContact: Bool {
        self == .call || self == .chat || self == .form
    }

    /// The channel used when an event of this type names none (SPEC §1).
    /// `handoff` defaults to its `to_channel`, else `chat`; `identify`, `unlink`, `eligibility`
    /// and `consent` (which must name its channel) have none.
    public var defaultChannel: Channel? {
        switch self {
        case .searchHit: .search
        case .webVisit, .form, .booking: .web
        case .call, .cancellation: .phone
        case .chat, .handoff: .chat
        case .messageSent, .messageOpened: .email
        case .noShow, .visit: .inPerson
        case .referral: .referral
        case .identify, .eligibility, .unlink, .consent: nil
        }
    }

    /// Orders types by their raw value.
    public static func < (a: EventType, b: EventType) -> Bool { a.rawValue < b.rawValue }
}

/// Where a touchpoint happened (SPEC §1). Raw values are part of the stored format.
public enum Channel: UInt8, CaseIterable, Sendable, Hashable, Comparable {
    /// A search engine.
    case search = 0
    /// The practice's website.
    case web = 1
    /// Social media.
    case social = 2
    /// A referral by someone.
    case referral = 3
    /// A phone call.
    case phone = 4
    /// A text message.
    case sms = 5
    /// An email.
    case email = 6
    /// A chat (website or messaging).
    case chat = 7
    /// The patient portal.
    case portal = 8
    /// In person, at the practice.
    case inPerson = 9

    /// The name used on the wire (`search`, `in_person`, …).
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

    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        guard let c = Channel.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }

    /// Orders channels by their wire name.
    public static func < (a: Channel, b: Channel) -> Bool { a.name.utf8.lexicographicallyPrecedes(b.name.utf8) }
}

/// Direction of a `call`.
public enum Direction: UInt8, CaseIterable, Sendable, Hashable {
    /// The subject called the practice (`in`).
    case inbound = 0
    /// The practice called the subject (`out`).
    case outbound = 1

    /// The name used on the wire (`in`, `out`).
    public var name: String { self == .inbound ? "in" : "out" }
    /// Parses a wire name; nil when unknown.
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
    /// Someone answered.
    case answered = 0
    /// The caller hung up before an answer.
    case abandoned = 1
    /// Nobody answered.
    case missed = 2
    /// The call went to voicemail.
    case voicemail = 3

    /// The name used on the wire (`answered`, …).
    public var name: String {
        switch self {
        case .answered: "answered"
        case .abandoned: "abandoned"
        case .missed: "missed"
        case .voicemail: "voicemail"
        }
    }
    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        guard let o = CallOutcome.allCases.first(where: { $0.name == name }) else { return nil }
        self = o
    }
}

/// Insurance eligibility status carried by `eligibility` events.
public enum EligibilityStatus: UInt8, CaseIterable, Sendable, Hashable {
    /// Coverage confirmed.
    case verified = 0
    /// Not yet known.
    case pending = 1
    /// Coverage refused.
    case denied = 2

    /// The name used on the wire (`verified`, …).
    public var name: String {
        switch self {
        case .verified: "verified"
        case .pending: "pending"
        case .denied: "denied"
        }
    }
    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        guard let s = EligibilityStatus.allCases.first(where: { $0.name == name }) else { return nil }
        self = s
    }
}

/// Consent status carried by `consent` events.
///
/// Raw values continue those of `EligibilityStatus`: both are stored in the same byte of an
/// event record, so a stored status names its kind by its value alone.
public enum ConsentStatus: UInt8, CaseIterable, Sendable, Hashable {
    /// The subject agrees to be contacted on the event's channel.
    case granted = 3
    /// The subject no longer agrees to be contacted on the event's channel.
    case revoked = 4

    /// The name used on the wire (`granted`, `revoked`).
    public var name: String { self == .granted ? "granted" : "revoked" }
    /// Parses a wire name; nil when unknown.
    public init?(name: String) {
        switch name {
        case "granted": self = .granted
        case "revoked": self = .revoked
        default: return nil
        }
    }
}

/// One touchpoint, as parsed and validated (SPEC §1).
///
/// Times are milliseconds since the Unix epoch; `amount` is in cents. Optional fields are nil
/// when absent on the wire. `channel` keeps what the input said (nil when it named none);
/// `effectiveChannel` applies the default by type. `attrs` is sorted by key, so two events that
/// are equal as parsed compare equal whatever the key order of their JSON.
public struct Event: Sendable, Hashable {
    /// The event's idempotency key, unique in the store (1–64 characters).
    public var id: String
    /// What kind of touchpoint it is.
    public var type: EventType
    /// Who it is about: a patient id or an anonymous one (1–128 characters).
    public var subject: String
    /// When it happened, in milliseconds since the Unix epoch.
    public var at: Int64
    /// Where it happened, as the input said (see `effectiveChannel`).
    public var channel: Channel?
    /// Marketing attribution: the source (`google`).
    public var source: String?
    /// Marketing attribution: the medium (`cpc`).
    public var medium: String?
    /// Marketing attribution: the campaign.
    public var campaign: String?
    /// Marketing attribution: the search term.
    public var term: String?
    /// Who handled the touchpoint (`bot:intake`, `staff:jdoe`).
    public var agent: String?
    /// Groups the contacts about one concern, across channels.
    public var conversation: String?
    /// What the patient wants, in their own words.
    public var concern: String?
    /// True when this contact settled the conversation's concern.
    public var resolved: Bool?
    /// A call's direction (a call without one counts as inbound).
    public var direction: Direction?
    /// A call's duration, in whole seconds.
    public var durationS: Int64?
    /// A call's outcome.
    public var outcome: CallOutcome?
    /// The appointment id of a booking, cancellation, no-show or visit.
    public var appointment: String?
    /// When a booking is for, in milliseconds since the Unix epoch.
    public var scheduledFor: Int64?
    /// Where a booking or visit takes place.
    public var location: String?
    /// Who sees the patient at a booking or visit.
    public var provider: String?
    /// Revenue in cents (the wire form is a decimal with at most 2 places).
    public var amountCents: Int64?
    /// The message id of a `messageSent` or `messageOpened`.
    public var message: String?
    /// Who referred the subject, for a `referral`.
    public var referrer: String?
    /// The id the subject is an alias of, for an `identify`; no longer, for an `unlink`.
    public var patient: String?
    /// Who takes over, for a `handoff`.
    public var toAgent: String?
    /// Where the conversation moves, for a `handoff`.
    public var toChannel: Channel?
    /// The result of an `eligibility` check (the wire's `status` on any type but `consent`).
    public var status: EligibilityStatus?
    /// The status of a `consent` (the wire's `status` on a `consent`; nil on every other type).
    public var consentStatus: ConsentStatus?
    /// Extra data, sorted by key; keys unique.
    public var attrs: [Attr]

    /// One entry of `attrs`.
    public struct Attr: Sendable, Hashable {
        /// The key, unique within the event.
        public var key: String
        /// The value.
        public var value: String
        /// An entry of `key` and `value`.
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// An event from its fields (`attrs` is sorted by key). Not validated: an event read from
    /// input should come from `EventParser`, which applies the rules of the wire format.
    public init(
        id: String, type: EventType, subject: String, at: Int64,
        channel: Channel? = nil, source: String? = nil, medium: String? = nil,
        campaign: String? = nil, term: String? = nil, agent: String? = nil,
        conversation: String? = nil, concern: String? = nil, resolved: Bool? = nil,
        direction: Direction? = nil, durationS: Int64? = nil, outcome: CallOutcome? = nil,
        appointment: String? = nil, scheduledFor: Int64? = nil, location: String? = nil,
        provider: String? = nil, amountCents: Int64? = nil, message: String? = nil,
        referrer: String? = nil, patient: String? = nil, toAgent: String? = nil,
        toChannel: Channel? = nil, status: EligibilityStatus? = nil, consentStatus: ConsentStatus? = nil,
        attrs: [Attr] = []
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
        self.consentStatus = consentStatus
        self.attrs = attrs.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// The channel the event counts under: its own, else the default of its type
    /// (`handoff`: `to_channel`, else `chat`). nil for `identify`/`unlink`/`eligibility` without one.
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
