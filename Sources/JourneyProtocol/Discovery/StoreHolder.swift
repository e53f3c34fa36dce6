import Glibc
import JourneyCore

/// Who holds a store's writer lock, as the holder recorded it in `DIR/writer.lock`.
///
/// One process writes a store at a time (SPEC §4, "one writer per store"). The holder writes
/// this record right after it takes the lock, so that a second writer can be told whom to ask
/// instead, and so that the command line finds the daemon serving the store, whatever its
/// socket path. The file holds one JSON object:
/// `{"pid":1234,"program":"journeyd serve","socket":"/run/j.sock","started":"2026-…Z"}`.
///
/// This is the reading side, the daemon-discovery part of the protocol, which a client uses
/// without the store; the writing side (taking the lock, writing the record) is the store's
/// (`JourneyStore/Store/StoreLock.swift`).
public struct StoreHolder: Sendable, Hashable, CustomStringConvertible {
    /// The holder's process id.
    public var pid: Int32
    /// What the holder runs, e.g. `journeyd serve`, `journeyd import`, or a service's name.
    public var program: String
    /// The socket the holder serves the store on, if it serves one.
    public var socket: String?
    /// When the holder took the lock (epoch milliseconds).
    public var startedAt: Int64

    /// A record with these fields as they are; `socket` is nil for a holder that serves no socket.
    public init(pid: Int32, program: String, socket: String? = nil, startedAt: Int64) {
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

    /// The record in `bytes`, or nil when they hold none (an empty file: the lock was released
    /// cleanly, or its holder has not written its record yet) or not a whole one.
    public init?(decoding bytes: [UInt8]) {
        guard let v = try? JSONParser.parse(bytes),
              let pid = v["pid"]?.int64Value, pid > 0, pid <= Int64(Int32.max),
              let program = v["program"]?.stringValue,
              let started = v["started_ms"]?.int64Value
        else { return nil }
        self.init(pid: Int32(pid), program: program, socket: v["socket"]?.stringValue, startedAt: started)
    }

    /// The lock file's name in a store's directory: `DIR/writer.lock`.
    public static let lockFileName = "writer.lock"

    /// The record in the lock file of the store in `directory`: the process writing it, or
    /// the last one when that one died without letting go (only the lock itself tells, and only
    /// to whoever tries to take it). Nil when there is none. Reading never takes the lock.
    public static func read(directory: String) -> StoreHolder? {
        guard let bytes = try? Syscall.readFile(directory + "/" + lockFileName) else { return nil }
        return StoreHolder(decoding: bytes)
    }
}
