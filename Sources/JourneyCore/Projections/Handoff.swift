/// What the next person or bot must see at once (SPEC §3.3).
public struct HandoffContext: Sendable, Hashable {
    /// The next appointment still on the books.
    public struct Upcoming: Sendable, Hashable {
        /// The appointment id.
        public var appointment: String?
        /// When it is scheduled (ms).
        public var scheduledFor: Int64
        /// Where.
        public var location: String?
        /// With whom.
        public var provider: String?
    }
    /// One of the latest touches.
    public struct Recent: Sendable, Hashable {
        /// When it happened (ms).
        public var at: Int64
        /// Its event type.
        public var type: EventType
        /// Its effective channel.
        public var channel: Channel?
        /// Who handled it.
        public var agent: String?
        /// The latest non-empty concern of the conversation.
        public var concern: String?
    }

    /// The canonical id of the cluster.
    public var patient: String
    /// The other ids of the cluster, sorted by bytes.
    public var aliases: [String]
    /// The instant of evaluation (ms).
    public var asOf: Int64
    /// The journey stage (SPEC §3.2).
    public var stage: Stage
    /// The risk flags that hold (SPEC §3.2), in SPEC order.
    public var risk: [Risk]
    /// The channel of the first touch.
    public var acquisitionChannel: Channel?
    /// `verified` `pending` `denied`, or `unknown`.
    public var eligibility: String
    /// The number of `no_show` events.
    public var noShows: Int
    /// The number of `cancellation` events.
    public var cancellations: Int
    /// The canonical id of the referrer of the earliest referral (SPEC §3.2).
    public var referredBy: String?
    /// Per channel with `consent` events, the status (`granted` or `revoked`) of its latest one.
    public var consent: [Channel: String]
    /// The conversation of the latest event that has one.
    public var conversation: String?
    /// `resolved` or `open`; nil without a conversation.
    public var conversationStatus: String?
    /// The latest non-empty concern of the conversation.
    public var concern: String?
    /// Distinct channels of the conversation's touches, in order of first appearance.
    public var channels: [Channel]
    /// Contacts (call, chat, form) in the conversation.
    public var contacts: Int
    /// The agent of the conversation's latest event that names one.
    public var lastAgent: String?
    /// Handoff events in the conversation.
    public var handoffs: Int
    /// The `attrs` of the conversation's latest event that has any, sorted by key bytes; nil
    /// when none has or there is no conversation.
    public var attrs: [Event.Attr]?
    /// The open booking scheduled first after `asOf`.
    public var upcoming: Upcoming?
    /// Newest first, at most 10.
    public var recent: [Recent]

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("patient"); w.string(patient)
        w.key("aliases"); w.beginArray(); for a in aliases { w.string(a) }; w.endArray()
        w.key("as_of"); w.time(ms: asOf)
        w.key("stage"); w.string(stage.name)
        w.key("risk"); w.beginArray(); for r in risk { w.string(r.name) }; w.endArray()
        w.key("acquisition_channel"); w.string(acquisitionChannel?.name)
        w.key("eligibility"); w.string(eligibility)
        w.key("consent")
        w.beginObject()
        for c in Channel.allCases { if let status = consent[c] { w.key(c.name); w.string(status) } }
        w.endObject()
        w.key("no_shows"); w.int(noShows)
        w.key("cancellations"); w.int(cancellations)
        w.key("referred_by"); w.string(referredBy)
        w.key("conversation"); w.string(conversation)
        w.key("conversation_status"); w.string(conversationStatus)
        w.key("concern"); w.string(concern)
        w.key("channels"); w.beginArray(); for c in channels { w.string(c.name) }; w.endArray()
        w.key("contacts"); w.int(contacts)
        w.key("last_agent"); w.string(lastAgent)
        w.key("handoffs"); w.int(handoffs)
        w.key("attrs")
        if let attrs {
            w.beginObject()
            for a in attrs { w.key(a.key); w.string(a.value) }
            w.endObject()
        } else {
            w.null()
        }
        w.key("upcoming")
        if let u = upcoming {
            w.beginObject()
            w.key("appointment"); w.string(u.appointment)
            w.key("scheduled_for"); w.time(ms: u.scheduledFor)
            w.key("location"); w.string(u.location)
            w.key("provider"); w.string(u.provider)
            w.endObject()
        } else {
            w.null()
        }
        w.key("recent")
        w.beginArray()
        for r in recent {
            w.beginObject()
            w.key("at"); w.time(ms: r.at)
            w.key("type"); w.string(r.type.name)
            w.key("channel"); w.string(r.channel?.name)
            w.key("agent"); w.string(r.agent)
            w.key("concern"); w.string(r.concern)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }
}

extension Projector {
    /// The warm-handoff context of the cluster holding `id` at `asOf` (only events at or before
    /// `asOf` count, SPEC §3.2); nil for an id never seen.
    package func handoff(id: String, asOf: Int64) -> HandoffContext? {
        guard let root = root(of: id) else { return nil }
        let cluster = clusters[Int(root)]
        let facts = cluster.facts(asOf: asOf)
        let life = LifecycleFacts(facts)

        var eligibility = "unknown"
        var conversation: UInt32 = 0
        var acquisition: Channel?
        var firstTouchSeen = false
        var noShows = 0, cancellations = 0
        for f in facts {
            if f.type == .eligibility, let s = EligibilityStatus(rawValue: f.status) { eligibility = s.name }
            if f.conversation != 0 { conversation = f.conversation }
            if !firstTouchSeen, f.type.isTouch { firstTouchSeen = true; acquisition = f.effectiveChannel }
            if f.type == .noShow { noShows += 1 }
            if f.type == .cancellation { cancellations += 1 }
        }

        var resolved = false
        var concern: UInt32 = 0
        var channels: [Channel] = []
        var contacts = 0
        var lastAgent: UInt32 = 0
        var handoffs = 0
        var attrs: UInt32 = 0
        if conversation != 0 {
            for f in facts where f.conversation == conversation {
                if f.isResolved { resolved = true }
                if f.concern != 0, values.length(f.concern) != 0 { concern = f.concern }
                if f.type.isTouch, let ch = f.effectiveChannel, !channels.contains(ch) { channels.append(ch) }
                if f.type.isContact { contacts += 1 }
                if f.agent != 0 { lastAgent = f.agent }
                if f.type == .handoff { handoffs += 1 }
                if f.attrs != 0 { attrs = f.attrs }
            }
        }

        // Appointments closed by a cancellation, no-show or visit anywhere in the cluster.
        var closed = Set<UInt32>()
        for f in facts where f.appointment != 0 {
            if f.type == .cancellation || f.type == .noShow || f.type == .visit { closed.insert(f.appointment) }
        }
        var next: Fact?
        for f in facts where f.type == .booking && f.scheduledFor != Fact.noTime && f.scheduledFor > asOf {
            if f.appointment != 0 && closed.contains(f.appointment) { continue }
            // Earliest scheduled; ties go to the earliest booking in timeline order.
            if next == nil || f.scheduledFor < next!.scheduledFor { next = f }
        }

        var recent: [HandoffContext.Recent] = []
        var i = facts.count - 1
        while i >= 0 && recent.count < 10 {
            let f = facts[i]
            if f.type.isTouch {
                recent.append(.init(at: f.at, type: f.type, channel: f.effectiveChannel,
                                    agent: values.optional(f.agent), concern: values.optional(f.concern)))
            }
            i -= 1
        }

        let hasConversation = conversation != 0
        return HandoffContext(
            patient: canonicalName(root),
            aliases: aliases(root),
            asOf: asOf,
            stage: life.stage(facts, asOf: asOf),
            risk: life.risk(facts, asOf: asOf),
            acquisitionChannel: acquisition,
            eligibility: eligibility,
            noShows: noShows,
            cancellations: cancellations,
            referredBy: referredBy(facts),
            consent: consent(facts),
            conversation: cluster.inlineString(conversation),
            conversationStatus: hasConversation ? (resolved ? "resolved" : "open") : nil,
            concern: values.optional(concern),
            channels: channels,
            contacts: contacts,
            lastAgent: values.optional(lastAgent),
            handoffs: handoffs,
            attrs: attrs == 0 ? nil : values.withBytes(attrs) { AttrsText.decode($0) },
            upcoming: next.map {
                .init(appointment: cluster.inlineString($0.appointment), scheduledFor: $0.scheduledFor,
                      location: values.optional($0.location), provider: values.optional($0.provider))
            },
            recent: recent)
    }

    /// Per channel with `consent` facts, the status of its latest one.
    func consent(_ facts: [Fact]) -> [Channel: String] {
        [:]
    }
}
