/// The place of an event in the log: 1, 2, 3, … dense and increasing in commit order.
///
/// A position is not a count or a time: it only orders commits and names where an event is
/// stored. `Position(0)` means "before the first event" (an empty log, or nothing folded yet).
public struct Position: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The position as a number (the log's key).
    public var rawValue: UInt64

    /// The position numbered `rawValue`.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The position numbered `value`.
    public init(_ value: UInt64) { self.rawValue = value }

    /// A position written as a literal, as in `.appended(1)`.
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Before the first event: where an empty log ends.
    public static let none = Position(0)

    /// The position after this one.
    public var next: Position { Position(rawValue + 1) }

    /// Orders positions as the log does.
    public static func < (a: Position, b: Position) -> Bool { a.rawValue < b.rawValue }

    /// The number, as `journeyd` prints it.
    public var description: String { String(rawValue) }
}
