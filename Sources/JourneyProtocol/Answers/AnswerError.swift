/// An answer line that does not have the shape the protocol gives it (not JSON, no `ok`, a
/// member missing or of the wrong type): what is wrong with it.
public struct AnswerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, e.g. `"positions" (one per event) and "duplicates" expected`.
    public var reason: String

    /// An answer error with `reason` as its explanation.
    public init(_ reason: String) { self.reason = reason }

    /// The reason, as is.
    public var description: String { reason }
}
