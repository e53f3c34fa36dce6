import Glibc
import JourneyCore

/// Who holds a store's writer lock, as the holder recorded it in `DIR/writer.lock`.
///
/// One process writes a store at a time (SPEC §4, "one writer per store"). The holder writes
/// this record right after it takes the lock, so that a second writer can be told whom to ask
/// instead, and so that the command line finds the daemon serving the store, whatever its
/// socket path. The file holds one JSON object:
/// `{"pid":1234,"program":"journeyd serve","socket":"/run/j.sock","started":"2026-…Z"}`.
public struct StoreHolder: Sendable, Hashable, CustomStringConvertible {
    /// The holder's process id.
    public var pid: Int32
    /// What the holder runs, e.g. `journeyd serve`, `journeyd import`, or a service's name.
    public var program: String
    /// The socket the holder serves the store on, if it serves one.
    public var socket: String?
    /// When the holder took the lock (epoch milliseconds).
    public var startedAt: Int64

    package init(pid: Int32, program: String, socket: String? = nil, startedAt: Int64) {
        self.pid = pid
        self.program = program
        self.socket = socket
        self.startedAt = startedAt
    }

    /// `process 1234 (journeyd serve on /run/j.sock, since 2026-…Z)`.
    public var description: String {
        let serving = socket.map { " on \($0)" } ?? ""
        return "process \(pid) (\(program)\(serving), since \(Timestamp.format(ms: startedAt)))"
    }

    /// The record as written to the lock file: one JSON object and a newline.
    var encoded: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("pid"); w.int(Int64(pid))
        w.key("program"); w.string(program)
        if let socket { w.key("socket"); w.string(socket) }
        w.key("started"); w.time(ms: startedAt)
        w.key("started_ms"); w.int(startedAt)
        w.endObject()
        return w.bytes + [UInt8(ascii: "\n")]
    }

    /// The record in `bytes`, or nil when they hold none (an empty file: the lock was released
    /// cleanly, or its holder has not written its record yet) or not a whole one.
    init?(decoding bytes: [UInt8]) {
        guard let v = try? JSONParser.parse(bytes),
              let pid = v["pid"]?.int64Value, pid > 0, pid <= Int64(Int32.max),
              let program = v["program"]?.stringValue,
              let started = v["started_ms"]?.int64Value
        else { return nil }
        self.init(pid: Int32(pid), program: program, socket: v["socket"]?.stringValue, startedAt: started)
    }

    /// This process's name and its command: the program's file name, followed by its first
    /// argument when that is a word (`journeyd import`), since one binary may run many roles.
    package static var currentProgram: String {
        let arguments = CommandLine.arguments
        let name = arguments.first.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "unknown"
        if arguments.count > 1, let command = arguments.dropFirst().first, !command.isEmpty,
           command.utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "-") }),
           command.first != "-" {
            return name + " " + command
        }
        return name
    }
}
