/// Why a practice report query (SPEC §3.6) was refused: the parameter at fault and the rule.
public struct ReportQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The parameter's name as the protocol spells it (`from`, `tz`, `min_visits`, …).
    public var field: String
    /// What is wrong with it.
    public var reason: String

    /// An error naming `field`.
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `"field": reason`.
    public var description: String { "\"\(field)\": \(reason)" }

    /// Checks a period: `from < to`, both in years 0001–9999 UTC (as event times).
    static func checkPeriod(from: Int64, to: Int64) throws(ReportQueryError) {
        for (name, t) in [("from", from), ("to", to)] where t < Timestamp.minMs || t > Timestamp.maxMs {
            throw ReportQueryError(field: name, "must lie in years 0001–9999 UTC, got \(t)")
        }
        guard from < to else {
            throw ReportQueryError(field: "to", "the period [from, to) is empty: \"to\" must be after \"from\"")
        }
    }

    /// Checks a page size: 1 to 10000.
    static func checkLimit(_ limit: Int) throws(ReportQueryError) {
        guard (1...10_000).contains(limit) else {
            throw ReportQueryError(field: "limit", "must be 1 to 10000, got \(limit)")
        }
    }
}
