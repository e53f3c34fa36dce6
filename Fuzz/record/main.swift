// Fuzz target: a stored event record, as read back from disk (possibly corrupt).
//
// `EventView(validating:)` must reject every malformed record with a `DecodeError`; a record it
// accepts must be safe to read through every accessor (the input buffer is exactly the record,
// so AddressSanitizer reports any read past it), the one-pass check must agree with the
// step-by-step check, and a record that fully decodes must be the canonical encoding of its event.
// The checksum frame around stored records (`RecordFrame`): the input read as a frame opens only
// when its trailer is its bytes' CRC-32C, and the input sealed as a record opens to itself, and no
// longer once any one bit of the frame is flipped.
import JourneyCore

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        seedEventLines(count: 200).compactMap { line -> [UInt8]? in
            guard let e = try? EventParser.parse(line) else { return nil }
            return try? EventRecord.encode(e)
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    checkFrame(raw)
    // The one-pass check and the step-by-step check accept the same records, at the same table.
    let fast = EventView.wellFormedTableStart(raw)
    let slow = try? EventView.check(raw)
    check(fast == slow, "one-pass check answered \(String(describing: fast)), step-by-step \(String(describing: slow))")
    guard let view = try? EventView(validating: raw) else {
        // Whatever the view rejects, the full decode rejects too.
        check((try? EventRecord.decode(raw)) == nil, "decode accepted a record the view rejects")
        return 0
    }
    // Every accessor, including the ones the projector uses without decoding.
    var sink = 0
    sink &+= Int(view.type.rawValue) &+ Int(truncatingIfNeeded: view.at)
    sink &+= view.channel.map { Int($0.rawValue) } ?? 0
    sink &+= view.effectiveChannel.map { Int($0.rawValue) } ?? 0
    sink &+= view.isInquiry ? 1 : 0
    sink &+= view.resolved == true ? 1 : 0
    sink &+= view.direction.map { Int($0.rawValue) } ?? 0
    sink &+= view.outcome.map { Int($0.rawValue) } ?? 0
    sink &+= view.toChannel.map { Int($0.rawValue) } ?? 0
    sink &+= view.status.map { Int($0.rawValue) } ?? 0
    sink &+= Int(truncatingIfNeeded: view.durationS ?? 0) &+ Int(truncatingIfNeeded: view.scheduledFor ?? 0)
    sink &+= Int(truncatingIfNeeded: view.amountCents ?? 0)
    for field in EventRecord.StringField.allCases {
        if let b = view.bytes(field) { sink &+= b.reduce(0) { $0 &+ Int($1) } }
    }
    var attrs = 0
    view.forEachAttr { k, v in
        attrs += 1
        sink &+= k.count &+ v.count &+ (k.first.map(Int.init) ?? 0) &+ (v.last.map(Int.init) ?? 0)
    }
    check(attrs == view.attrCount, "forEachAttr visited \(attrs) of \(view.attrCount) attributes")
    check(view.id.count >= 0 && view.subject.count >= 0 && sink != Int.min, "unreachable")

    guard let event = try? view.event() else { return 0 }
    check((try? EventRecord.decode(raw)) == event, "decode and view.event() disagree")
    // The encoding is canonical: the decoded event encodes to the very same bytes.
    let again = try? EventRecord.encode(event)
    check(again.map { $0.elementsEqual(raw) } ?? false, "a decoded record does not re-encode to its bytes")
    return 0
}

/// The checksum frame on the input, read as a stored frame and sealed as a record.
func checkFrame(_ raw: UnsafeRawBufferPointer) {
    let opened = try? RecordFrame.open(raw)
    if raw.count >= RecordFrame.trailerSize {
        let body = UnsafeRawBufferPointer(rebasing: raw.dropLast(RecordFrame.trailerSize))
        let trailer = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: body.count, as: UInt32.self))
        check((opened != nil) == (CRC32C.checksum(body) == trailer), "a frame opened against its checksum")
        if let opened { check(opened.elementsEqual(body), "an opened frame is not its record") }
    } else {
        check(opened == nil, "a frame shorter than its trailer opened")
    }
    let sealed = RecordFrame.sealed(Array(raw))
    sealed.withUnsafeBytes { frame in
        check((try? RecordFrame.open(frame)).map { $0.elementsEqual(raw) } == true, "a sealed record does not open to itself")
    }
    guard !sealed.isEmpty else { return }
    // One bit, chosen by the input, flipped anywhere in the frame (the trailer included).
    var damaged = sealed
    let seed = raw.reduce(UInt64(raw.count)) { $0 &* 31 &+ UInt64($1) }
    damaged[Int(seed % UInt64(damaged.count))] ^= 1 << UInt8(seed >> 32 & 7)
    damaged.withUnsafeBytes { frame in
        check((try? RecordFrame.open(frame)) == nil, "a frame with a flipped bit opened")
    }
}
