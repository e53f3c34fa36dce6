/// What the projector reads from an event, whether it is a decoded `Event` or an `EventView`
/// over stored bytes: one folding code path serves both, so they cannot disagree.
protocol FoldInput {
    var type: EventType { get }
    var at: Int64 { get }
    var isInquiry: Bool { get }
    var resolved: Bool? { get }
    var effectiveChannel: Channel? { get }
    var status: EligibilityStatus? { get }
    var scheduledFor: Int64? { get }
    var amountCents: Int64? { get }
    /// The presence bits of the string fields (bit n for `StringField` raw value n).
    var presentStrings: UInt16 { get }
    /// Calls `body` with the UTF-8 bytes of a string field, nil when absent.
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R
}

extension Event: FoldInput {
    var presentStrings: UInt16 {
        var m: UInt16 = 0b11
        func bit(_ s: String?, _ f: EventRecord.StringField) { if s != nil { m |= 1 << UInt16(f.rawValue) } }
        bit(source, .source); bit(medium, .medium); bit(campaign, .campaign); bit(term, .term)
        bit(agent, .agent); bit(conversation, .conversation); bit(concern, .concern)
        bit(appointment, .appointment); bit(location, .location); bit(provider, .provider)
        bit(message, .message); bit(referrer, .referrer); bit(patient, .patient); bit(toAgent, .toAgent)
        return m
    }

    @inline(__always)
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        let value: String?
        switch field {
        case .id: value = id
        case .subject: value = subject
        case .source: value = source
        case .medium: value = medium
        case .campaign: value = campaign
        case .term: value = term
        case .agent: value = agent
        case .conversation: value = conversation
        case .concern: value = concern
        case .appointment: value = appointment
        case .location: value = location
        case .provider: value = provider
        case .message: value = message
        case .referrer: value = referrer
        case .patient: value = patient
        case .toAgent: value = toAgent
        }
        guard var s = value else { return body(nil) }
        return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}

extension EventView: FoldInput {
    @inline(__always)
    var presentStrings: UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 10, as: UInt16.self)) }

    @inline(__always)
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        body(bytes(field))
    }
}
