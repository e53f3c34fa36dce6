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
    /// Calls `body` with the UTF-8 bytes of a string field, nil when absent.
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R
}

extension Event: FoldInput {
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
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        body(bytes(field))
    }
}
