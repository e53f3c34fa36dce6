import Synchronization

/// The clock signals are evaluated at (SPEC §3.7: "evaluated at the wall clock"): the engine
/// asks it for the time after each fold and when an elapsed-time threshold falls due. Tests
/// inject a `ManualClock` and move it by hand.
public protocol SignalClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func now() -> Int64
}

/// The system's real-time clock.
public struct WallClock: SignalClock {
    /// The wall clock.
    public init() {}
    /// The current time, ms since the Unix epoch.
    public func now() -> Int64 { Clock.nowMs() }
}

/// A clock that moves only when told to.
public final class ManualClock: SignalClock {
    private let time: Mutex<Int64>

    /// A clock reading `ms` until moved.
    public init(_ ms: Int64) { time = Mutex(ms) }

    /// The time it was last set to.
    public func now() -> Int64 { time.withLock { $0 } }

    /// Sets the time.
    public func set(_ ms: Int64) { time.withLock { $0 = ms } }

    /// Moves the time on by `ms`.
    public func advance(by ms: Int64) { time.withLock { $0 += ms } }
}
