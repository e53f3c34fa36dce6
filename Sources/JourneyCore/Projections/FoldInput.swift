/// What the projector reads from an event, whether it is a decoded `Event` or an `EventView`
/// over stored bytes: one folding code path serves both, so they cannot disagree.
protocol FoldInput {
    var type: EventType { get }
    var at: Int64 { get }
    var isInquiry: Bool { get }
    var resolved: Bool? { get }
    var effectiveChannel: Channel? { get }
    /// The stored status: an `EligibilityStatus` or (on a `consent`) `ConsentStatus` raw value.
    var statusCode: UInt8? { get }
    var scheduledFor: Int64? { get }
    var amountCents: Int64? { get }
    /// The presence bits of the string fields (bit n for `StringField` raw value n).
    var presentStrings: UInt16 { get }
    /// Calls `body` with the UTF-8 bytes of a string field, nil when absent.
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R
    /// `withField` by the field's raw value.
    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) -> R) -> R
    /// Calls `body` with the event's `attrs` in their `AttrsText` form, nil when it has none.
    func withAttrsText<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R
    /// The event's `FactRecord` header but the fields bit (type, inquiry, resolved and
    /// channel bits; the type bits are `FactRecord.typeBits`), and its effective channel's raw
    /// value or `Fact.noChannel`.
    var factHeader: (header: UInt8, channel: UInt8) { get }
}

extension FoldInput {
    @inline(__always)
    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        withField(EventRecord.StringField(rawValue: index)!, body)
    }

    /// `factHeader` from the accessors.
    @inline(__always)
    var headerFromAccessors: (header: UInt8, channel: UInt8) {
        let type = self.type
        var header = FactRecord.typeBits(type.rawValue)
        if isInquiry { header |= FactRecord.inquiryBit }
        if resolved == true { header |= FactRecord.resolvedBit }
        let channel = effectiveChannel?.rawValue ?? Fact.noChannel
        if channel != type.defaultChannel?.rawValue ?? Fact.noChannel { header |= FactRecord.channelBit }
        return (header, channel)
    }
}

extension Event: FoldInput {
    var factHeader: (header: UInt8, channel: UInt8) { headerFromAccessors }

    var statusCode: UInt8? { status?.rawValue ?? consentStatus?.rawValue }

    func withAttrsText<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let text = AttrsText.text(attrs) else { return body(nil) }
        return text.withUnsafeBytes(body)
    }

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
    /// `Event.defaultChannel` by type raw value, a nibble each; 0xF for none (and for every type
    /// from 15 on, none of which has a default).
    static var defaultChannels: UInt64 { 0xFF7F_3994_1661_7410 }

    /// `headerFromAccessors` read straight from the record's header bytes, with a table for
    /// the type's default channel (the same header; checked against it by the tests).
    @inline(__always)
    var factHeader: (header: UInt8, channel: UInt8) {
        typealias R = EventRecord
        // Inside the header `init(validating:)` checked: type, flags and enum bytes.
        let b = raw.baseAddress!
        let type = b.load(fromByteOffset: 1, as: UInt8.self)
        let flags = b.load(fromByteOffset: 2, as: UInt8.self)
        let typeBits = FactRecord.typeBits(type)
        let d = UInt8(truncatingIfNeeded: EventView.defaultChannels >> UInt64(4 * typeBits)) & 0xF
        let byDefault = d == 0xF ? Fact.noChannel : d
        var channel = byDefault
        if flags & R.flagChannel != 0 {
            channel = b.load(fromByteOffset: 4, as: UInt8.self)
        } else if type == EventType.handoff.rawValue, flags & R.flagToChannel != 0 {
            channel = b.load(fromByteOffset: 7, as: UInt8.self)
        }
        var header = typeBits
        let outbound = flags & R.flagDirection != 0 && b.load(fromByteOffset: 5, as: UInt8.self) == Direction.outbound.rawValue
        if type == EventType.chat.rawValue || type == EventType.form.rawValue || (type == EventType.call.rawValue && !outbound) {
            header |= FactRecord.inquiryBit
        }
        if flags & (R.flagResolved | R.flagResolvedValue) == R.flagResolved | R.flagResolvedValue { header |= FactRecord.resolvedBit }
        if channel != byDefault { header |= FactRecord.channelBit }
        return (header, channel)
    }

    @inline(__always)
    var presentStrings: UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 10, as: UInt16.self)) }

    /// Written on the stack: the attributes, last in the record, take at most its bytes.
    func withAttrsText<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        let count = attrCount
        guard count > 0 else { return body(nil) }
        return withUnsafeTemporaryAllocation(byteCount: AttrsText.capacity(count: count, bytes: raw.count), alignment: 1) { out in
            let n = AttrsText.write(into: out) { entry in forEachAttr { k, v in entry(k, v) } }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<n]))
        }
    }

    @inline(__always)
    func withField<R>(_ field: EventRecord.StringField, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        body(bytes(field))
    }

    @inline(__always)
    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        body(bytes(at: index))
    }
}
