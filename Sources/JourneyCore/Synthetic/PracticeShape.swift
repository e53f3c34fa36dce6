/// How a synthetic practice's systems send its events: the same journeys, sent as a clean
/// export would, or as a practice's mixed systems do in the field.
package enum PracticeShape: String, Sendable, CaseIterable {
    /// Every time as RFC 3339, every event sent once, every web visitor identified once they
    /// get in touch (all do). About 5% of events arrive late. `journeyd generate`'s default.
    case clean
    /// As a practice's systems send it: every other line's `at` as epoch milliseconds (the rest
    /// RFC 3339), about 1% of events sent a second time (same id, same content, a second to ten
    /// minutes later), about 5% late, and one web-first visitor in twelve who never gets in touch
    /// (the rest are identified later). No attrs, as in `clean`.
    case field

    /// The fraction of events the field shape sends twice.
    static let resentFraction = 0.01
    /// The fraction of web-first visitors who never get in touch in the field shape.
    static let neverIdentified = 0.08
}
