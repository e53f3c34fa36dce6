import Dispatch
import Foundation
import Synchronization

/// The journey figures the practice reports read of one cluster as it stood at a report's
/// `as_of` (SPEC §3.2's point-in-time view), gathered in one pass over its records that
/// decodes only the few records a report needs (`Cluster.scanForReport`).
struct ClusterFigures: StageCounts {
    /// The cluster's slot.
    var root: UInt32
    /// Its records at or before `as_of`.
    var records = 0
    /// Visits, bookings and inquiries at or before `as_of`.
    var visits = 0
    var bookings = 0
    var inquiries = 0
    /// `at` of the earliest and the latest visit, or `Fact.noTime`.
    var firstVisitAt = Fact.noTime
    var lastVisitAt = Fact.noTime
    /// The sum of visit amounts, in cents (saturating, as `ClusterAsOf`).
    var lifetimeValueCents: Int64 = 0
    /// The interned `referrer` of the earliest referral naming one, or `Fact.none`.
    var referrer = Fact.none
    /// The earliest touch, when the scan was asked for it and there is one.
    var firstTouch: Fact?

    init(root: UInt32) { self.root = root }

    var firstVisit: Int64? { visits > 0 ? firstVisitAt : nil }
    var lastVisit: Int64? { visits > 0 ? lastVisitAt : nil }
}

/// Which records a report scan decodes, as bits by `EventType` raw value.
struct ReportTypes {
    var bits: UInt64

    init(_ types: [EventType]) {
        bits = 0
        for t in types { bits |= 1 << UInt64(t.rawValue) }
    }

    @inline(__always) func contains(_ raw: UInt8) -> Bool { bits & (1 &<< UInt64(raw & 63)) != 0 }

    /// The bits as a cluster keeps them (`Cluster.types`).
    var clusterMask: UInt32 { UInt32(truncatingIfNeeded: bits) }

    /// Every touch type (SPEC §1).
    static let touches = ReportTypes(EventType.allCases.filter(\.isTouch))
}

extension Cluster {
    /// Reads the records at or before `asOf` (SPEC §3.2) into `c`: counts every record's
    /// type and inquiry bit from its header, decodes visits (always) and the first referral
    /// naming a referrer, the earliest touch when `firstTouch` is set, and calls `body` with
    /// each record whose type is in `types`, decoded, in timeline order. Other records are
    /// skipped after their header. With `settle`, the facts given to `body` have settled
    /// appointment tokens (equal appointment ids compare equal; other inline tokens are not
    /// settled).
    @inline(__always)
    func scanForReport(upTo asOf: Int64, types: ReportTypes, firstTouch: Bool, settle: Bool,
                       into c: inout ClusterFigures, _ body: (Fact) -> Void) {
        let visit = EventType.visit.rawValue, referral = EventType.referral.rawValue, booking = EventType.booking.rawValue
        var tokens = InlineTokens()
        log.withUnsafeBytes { b in
            guard !b.isEmpty else { return }
            var pos = FactRecord.recordsStart(b)
            var at: Int64 = 0
            while pos < b.count {
                let start = pos
                let delta = FactRecord.readVarint(b, &pos).unsafelyUnwrapped
                let recordAt = at &+ FactRecord.unzigzag(delta)
                // Records are in timeline order: the first later one ends the point-in-time view.
                if recordAt > asOf { return }
                let header = b[pos]
                let raw = header & 0x0F == FactRecord.extendedType ? b[pos + 1] : header & 0x0F
                c.records += 1
                if header & FactRecord.inquiryBit != 0 { c.inquiries += 1 }
                if raw == booking { c.bookings += 1 }
                let wanted = types.contains(raw)
                if wanted || raw == visit || (raw == referral && c.referrer == Fact.none)
                    || (firstTouch && c.firstTouch == nil && ReportTypes.touches.contains(raw)) {
                    var d = FactRecord.decode(b, at: start, previousAt: at).unsafelyUnwrapped
                    if settle { tokens.settleAppointment(&d.fact, b) }
                    let f = d.fact
                    if raw == visit {
                        if c.visits == 0 { c.firstVisitAt = f.at }
                        c.visits += 1
                        c.lastVisitAt = f.at
                        let (sum, overflow) = c.lifetimeValueCents.addingReportingOverflow(f.amountCents)
                        c.lifetimeValueCents = overflow ? (f.amountCents > 0 ? .max : .min) : sum
                    } else if raw == referral, c.referrer == Fact.none {
                        c.referrer = f.other
                    }
                    if firstTouch, c.firstTouch == nil, f.type.isTouch { c.firstTouch = f }
                    if wanted { body(f) }
                    at = recordAt
                    pos = d.end
                    continue
                }
                at = recordAt
                FactRecord.skipBody(b, &pos, header: header)
            }
        }
    }
}

extension Projector {
    /// Runs `body` over every cluster slot, in ranges of slots, each range with a partial
    /// result of its own made by `make`, and answers the partials in slot order. Ranges run
    /// on every core at once (the projector is only read); a projector of fewer slots than
    /// `reportScanParallelMinimum` is one range.
    func scanSlots<Partial: Sendable>(_ make: () -> Partial,
                                      _ body: @Sendable (borrowing Projector, inout Partial, Range<Int>) -> Void) -> [Partial] {
        let n = clusters.count
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        guard n >= reportScanParallelMinimum, n > 1 else {
            var p = make()
            body(self, &p, 0..<n)
            return [p]
        }
        // A few ranges per core, so a slow range does not leave a core idle.
        let parts = cores * 4
        let results = Mutex<[Partial?]>(Array(repeating: nil, count: parts))
        let initial = (0..<parts).map { _ in make() }
        let copy = self
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            var p = initial[i]
            body(copy, &p, (n * i / parts)..<(n * (i + 1) / parts))
            results.withLock { $0[i] = p }
        }
        return results.withLock { $0.map { $0! } }
    }
}
