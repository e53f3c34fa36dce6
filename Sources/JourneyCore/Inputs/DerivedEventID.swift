/// Event ids derived from a source record, so that importing the same record again is answered
/// as duplicates, and a changed record adds only the events whose content changed (SPEC §7).
///
/// An id is `<prefix><record>:<kind>:<digest>`, e.g. `fhir:Appointment/123:booking:5c0a91e2`:
/// the record's type and id, the kind of event drawn from it, and the first 8 hex digits of the
/// FNV-1a 64 digest of the event's canonical JSON without its id. A record id too long for the
/// 64-character limit is replaced by `#` and the 16 hex digits of its own digest.
package enum DerivedEventID {
    /// The id for `event` (whose own `id` is ignored) drawn from `record` as `kind`.
    ///
    /// - Parameters:
    ///   - prefix: the source, with its separator (`fhir:`).
    ///   - recordType: the record's type (`Appointment`).
    ///   - recordID: the record's id in the source.
    ///   - kind: which of the record's events (`booking`, `cancellation`).
    package static func make(prefix: String, recordType: String, recordID: String, kind: String, event: Event) -> String {
        var content = event
        content.id = ""
        let digest = hex(fnv1a(Array(EventJSON.encode(content).utf8)), digits: 8)
        let id = "\(prefix)\(recordType)/\(recordID):\(kind):\(digest)"
        if id.utf8.count <= EventLimits.maxIDLength && IdCharacters.firstRefused(recordID) == nil { return id }
        return "\(prefix)\(recordType)/#\(hex(fnv1a(Array(recordID.utf8)), digits: 16)):\(kind):\(digest)"
    }

    /// The 64-bit FNV-1a digest of `bytes`.
    package static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The first `digits` hex digits of `v`, most significant first.
    static func hex(_ v: UInt64, digits: Int) -> String {
        let s = String(v, radix: 16)
        let full = String(repeating: "0", count: 16 - s.count) + s
        return String(full.prefix(digits))
    }
}

extension IdCharacters {
    /// The first refused scalar of `s`, or nil.
    static func firstRefused(_ s: String) -> (scalar: UInt32, kind: Kind)? {
        var s = s
        return s.withUTF8 { firstRefused($0) }
    }
}
