/// What the stage and risk rules (SPEC §3.2) read of one cluster as it stood at an instant,
/// gathered in one pass over its records that reads most of them from their header alone
/// (`Cluster.scanForRisk`): the figures `LifecycleFacts` takes from decoded facts, with the
/// times it reads of them.
struct RiskFigures: StageCounts {
    /// The records at or before the instant.
    var counted = 0
    /// `at` of the latest of them (valid when `counted > 0`).
    var latestAt: Int64 = 0
    /// `at` of the first record after the instant, nil when there is none.
    var future: Int64?
    var visits = 0
    var bookings = 0
    var inquiries = 0
    /// Places (in timeline order, from 0) of the latest record of a type, or -1.
    var lastVisit = -1
    var lastBooking = -1
    var lastCancellation = -1
    var lastNoShow = -1
    /// `at` of the earliest and the latest visit, of the latest cancellation and no-show.
    var firstVisitAt: Int64 = 0
    var lastVisitAt: Int64 = 0
    var lastCancellationAt: Int64 = 0
    var lastNoShowAt: Int64 = 0
    /// `message_sent` records counted.
    var sends = 0
    /// Bits by `Channel` raw value: the channels whose latest consent is `granted`.
    var granted: UInt16 = 0

    /// The rules that hold at `asOf` (as `LifecycleFacts.risk`), but `declining_engagement`,
    /// which reads the messages themselves.
    func risk(asOf: Int64) -> RiskSet {
        var out: RiskSet = []
        if isLapsed(asOf: asOf) { out.insert(.lapsed) }
        if visits >= 3 {
            // as_of − last > 2·(last − first)/(visits − 1), exactly, in integers.
            let first = Int128(firstVisitAt), last = Int128(lastVisitAt)
            if (Int128(asOf) - last) * Int128(visits - 1) > 2 * (last - first) { out.insert(.overdue) }
        }
        // "After every booking and every visit": later in timeline than the latest of each.
        let lastCare = max(lastBooking, lastVisit)
        if lastCancellation >= 0, lastCancellation > lastCare,
           Int128(asOf) - Int128(lastCancellationAt) >= Int128(Durations.cancelGrace) {
            out.insert(.cancelledNotRebooked)
        }
        if lastNoShow >= 0, lastNoShow > lastCare,
           Int128(asOf) - Int128(lastNoShowAt) >= Int128(Durations.noShowGrace) {
            out.insert(.noShowNotRebooked)
        }
        return out
    }

    /// The channels whose latest consent is `granted`, in channel order.
    var contactable: [Channel] {
        // Most clusters never gave consent: no list to build.
        if granted == 0 { return [] }
        return Channel.allCases.filter { granted & (1 << UInt16($0.rawValue)) != 0 }
    }
}

extension Cluster {
    /// The figures of the records at or before `asOf` (SPEC §3.2), and the `at` of the first
    /// later one. Only consents are decoded (for their channel and status); every other record
    /// is read from its header and skipped.
    func scanForRisk(upTo asOf: Int64) -> RiskFigures {
        let visit = EventType.visit.rawValue, booking = EventType.booking.rawValue
        let cancellation = EventType.cancellation.rawValue, noShow = EventType.noShow.rawValue
        let consent = EventType.consent.rawValue, messageSent = EventType.messageSent.rawValue
        var r = RiskFigures()
        log.withUnsafeBytes { b in
            guard !b.isEmpty else { return }
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                let start = pos
                // The log is the projector's own, well formed: its varints are read unchecked.
                let delta = FactRecord.readVarint(b, &pos).unsafelyUnwrapped
                let recordAt = at &+ FactRecord.unzigzag(delta)
                // Records are in timeline order: the first later one ends the point-in-time view.
                if recordAt > asOf {
                    r.future = recordAt
                    return
                }
                let i = r.counted
                r.counted += 1
                r.latestAt = recordAt
                let header = b[pos]
                let raw = header & 0x0F == FactRecord.extendedType ? b[pos + 1] : header & 0x0F
                if header & FactRecord.inquiryBit != 0 { r.inquiries += 1 }
                switch raw {
                case visit:
                    if r.visits == 0 { r.firstVisitAt = recordAt }
                    r.visits += 1
                    r.lastVisit = i
                    r.lastVisitAt = recordAt
                case booking:
                    r.bookings += 1
                    r.lastBooking = i
                case cancellation:
                    r.lastCancellation = i
                    r.lastCancellationAt = recordAt
                case noShow:
                    r.lastNoShow = i
                    r.lastNoShowAt = recordAt
                case messageSent:
                    r.sends += 1
                case consent:
                    let d = FactRecord.decode(b, at: start, previousAt: at).unsafelyUnwrapped
                    if let channel = d.fact.effectiveChannel {
                        let bit: UInt16 = 1 << UInt16(channel.rawValue)
                        if d.fact.status == ConsentStatus.granted.rawValue { r.granted |= bit } else { r.granted &= ~bit }
                    }
                    at = recordAt
                    pos = d.end
                    continue
                default:
                    break
                }
                at = recordAt
                FactRecord.skipBody(b, &pos, header: header)
            }
        }
        return r
    }
}
