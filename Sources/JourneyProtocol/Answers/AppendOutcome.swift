import JourneyCore

/// What an append did with one event: stored at a new position, or already stored with the
/// same content (SPEC §2: a no-op that answers the existing position).
public enum AppendOutcome: Sendable, Hashable {
    /// Stored at this new position.
    case appended(Position)
    /// Already stored with the same content at this position; nothing written.
    case duplicate(Position)

    /// The event's position, new or existing.
    public var position: Position {
        switch self {
        case .appended(let p), .duplicate(let p): p
        }
    }
}
