/// The counts a cluster's stage follows from (SPEC §3.2), as one pass over its records gathers
/// them: the stage and lapse rules over them are the same as `LifecycleFacts.stage` applies to
/// decoded facts.
protocol StageCounts {
    /// Visits, bookings and inquiries counted.
    var visits: Int { get }
    var bookings: Int { get }
    var inquiries: Int { get }
    /// `at` of the latest visit (read only when `visits >= 1`).
    var lastVisitAt: Int64 { get }
}

extension StageCounts {
    /// The stage at `asOf`.
    func stage(asOf: Int64) -> Stage {
        if visits >= 1 { return isLapsed(asOf: asOf) ? .lapsed : .active }
        if bookings >= 1 { return .booked }
        if inquiries >= 1 { return .inquiring }
        return .prospect
    }

    /// Whether the latest visit is more than a year before `asOf`.
    func isLapsed(asOf: Int64) -> Bool {
        visits >= 1 && Int128(asOf) - Int128(lastVisitAt) > Int128(Durations.lapse)
    }
}
