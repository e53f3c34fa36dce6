import Foundation

/// The calendar buckets of the practice reports (SPEC §3.6): days, ISO weeks (from Monday
/// 00:00) or calendar months, with boundaries at local midnight of an IANA time zone.
public enum ReportInterval: String, Sendable, Hashable, CaseIterable {
    /// One calendar day.
    case day
    /// One ISO week, Monday 00:00 to the next Monday 00:00.
    case week
    /// One calendar month.
    case month

    /// The name used in queries and reports.
    public var name: String { rawValue }

    /// Parses an interval name; nil when unknown.
    public init?(name: String) { self.init(rawValue: name) }
}

/// Bucket boundaries in one time zone. Boundaries are computed once per report (a short list
/// of instants); events find their bucket by binary search, so no calendar work runs per event.
public struct ReportCalendar: Sendable, Hashable {
    /// The most buckets one report spans (about 27 years of days).
    public static let maxBuckets = 10_000

    /// The zone's IANA name (`UTC`, `America/New_York`).
    public let timeZone: String
    private let calendar: Calendar

    /// A calendar for the IANA zone `timeZone`.
    ///
    /// - Throws: `ReportQueryError` on `tz` when the name is not a known zone.
    public init(timeZone: String = "UTC") throws(ReportQueryError) {
        guard !timeZone.isEmpty, let zone = TimeZone(identifier: timeZone) else {
            throw ReportQueryError(field: "tz", "unknown time zone \"\(timeZone)\": use an IANA name such as UTC or America/New_York")
        }
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        c.firstWeekday = 2  // Monday
        c.minimumDaysInFirstWeek = 4  // ISO 8601
        calendar = c
        self.timeZone = timeZone
    }

    /// Calendars are equal when their zones have the same name.
    public static func == (a: ReportCalendar, b: ReportCalendar) -> Bool { a.timeZone == b.timeZone }
    /// Hashes the zone's name.
    public func hash(into h: inout Hasher) { h.combine(timeZone) }

    /// The start (epoch ms) of the bucket of `interval` holding `ms`.
    public func start(of interval: ReportInterval, holding ms: Int64) -> Int64 {
        let date = Date(timeIntervalSince1970: Double(Self.floorDiv(ms, 1000)))
        let component: Calendar.Component = switch interval {
        case .day: .day
        case .week: .weekOfYear
        case .month: .month
        }
        guard let i = calendar.dateInterval(of: component, for: date) else { return ms }
        return Int64((i.start.timeIntervalSince1970 * 1000).rounded())
    }

    /// The start of the bucket after the one starting at `start`.
    public func next(_ interval: ReportInterval, after start: Int64) -> Int64 {
        let date = Date(timeIntervalSince1970: Double(Self.floorDiv(start, 1000)))
        let (component, value): (Calendar.Component, Int) = switch interval {
        case .day: (.day, 1)
        case .week: (.day, 7)
        case .month: (.month, 1)
        }
        guard let n = calendar.date(byAdding: component, value: value, to: date) else { return start &+ 86_400_000 }
        // Adding to a local midnight lands on the next one; snap to its bucket in case a
        // daylight-saving change moved the wall clock.
        return self.start(of: interval, holding: Int64((n.timeIntervalSince1970 * 1000).rounded()) + 1)
    }

    /// The starts of the buckets that meet `[from, to)`: from the one holding `from` to the one
    /// holding `to − 1`.
    ///
    /// - Throws: `ReportQueryError` on `to` past `maxBuckets` buckets.
    public func buckets(_ interval: ReportInterval, from: Int64, to: Int64) throws(ReportQueryError) -> [Int64] {
        var out: [Int64] = []
        var s = start(of: interval, holding: from)
        while s < to {
            guard out.count < Self.maxBuckets else {
                throw ReportQueryError(field: "to", "the period spans more than \(Self.maxBuckets) \(interval.name)s")
            }
            out.append(s)
            let n = next(interval, after: s)
            guard n > s else { break }
            s = n
        }
        return out
    }

    /// The index of the bucket holding `ms` among sorted bucket `starts`; nil before the first.
    public static func index(of ms: Int64, in starts: [Int64]) -> Int? {
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= ms { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// A month start as `YYYY-MM` in a calendar's zone.
extension ReportCalendar {
    /// The `YYYY-MM` of the month holding `ms` in this zone.
    public func monthName(_ ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(Self.floorDiv(ms, 1000)))
        let c = calendar.dateComponents([.year, .month], from: date)
        let y = c.year ?? 0, m = c.month ?? 0
        let ys = String(y), ms = String(m)
        return String(repeating: "0", count: max(0, 4 - ys.count)) + ys + "-" + (m < 10 ? "0" + ms : ms)
    }
}
