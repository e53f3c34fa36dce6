// Fuzz target: the read audit file as read back from disk (possibly damaged or cut short).
//
// `AuditEntry(decoding:)` must reject every malformed payload (nil, never a read past the
// buffer: AddressSanitizer checks), and a payload it accepts must be the canonical encoding of
// the record it decodes to. `AuditLog.entries(in:)` must read any file: records at increasing
// offsets, each exactly the frame of its record, and every other byte counted as skipped.

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let entries = [
            AuditEntry(at: 1_767_261_600_000, uid: 1000, pid: 42, actor: "dr-lee", op: "patient",
                       parameters: #"{"op":"patient","id":"p-1"}"#, ids: ["p-1"], reason: "visit"),
            AuditEntry(at: 0, uid: 0, pid: -1, actor: nil, op: "at_risk", parameters: "{}",
                       ids: (0..<7).map { "p\($0)" }, reason: nil),
            AuditEntry(at: -5, uid: 7, pid: 7, actor: "a", op: "export", parameters: #"{"from":1,"through":9}"#,
                       ids: [], reason: nil),
        ]
        var seeds = entries.map(\.encoded)
        seeds.append(entries.flatMap { AuditLog.frame($0.encoded) })
        seeds.append(Array(AuditLog.frame(entries[0].encoded).dropLast(3)) + AuditLog.frame(entries[1].encoded))
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    if let e = AuditEntry(decoding: raw) {
        check(e.encoded.elementsEqual(raw), "a decoded payload is not the encoding of its record")
        check(e.ids.count <= AuditEntry.maxIds && e.ids.count <= e.count, "ids past the bound")
    }
    let (found, skipped) = AuditLog.entries(in: raw)
    var covered = 0
    var last = -1
    for (offset, entry) in found {
        check(offset > last, "records out of order")
        let frame = AuditLog.frame(entry.encoded)
        check(offset + frame.count <= size, "a record past the end")
        check(frame.elementsEqual(raw[offset..<offset + frame.count]), "a record is not the frame at its offset")
        covered += frame.count
        last = offset
    }
    check(covered + skipped == size, "bytes neither read nor skipped")
    return 0
}
