import Glibc
import JourneyCore
import JourneyStore

/// The daemon's log: one line per event on stderr, `TIME level=L component=C message`, so it
/// greps and tails well and systemd's journal keeps it as is.
enum Log {
    static func info(_ component: String, _ message: String) { write("info", component, message) }
    static func warn(_ component: String, _ message: String) { write("warn", component, message) }
    static func error(_ component: String, _ message: String) { write("error", component, message) }

    private static func write(_ level: String, _ component: String, _ message: String) {
        let flat = String(message.map { $0 == "\n" ? " " : $0 })
        Output.error("\(Timestamp.format(ms: Clock.nowMs())) level=\(level) component=\(component) \(flat)")
    }
}
