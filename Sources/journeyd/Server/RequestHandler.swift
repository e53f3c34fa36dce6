import Glibc

/// Answers the request lines of the socket server.
///
/// `handle` is called on a pool thread (it may block), once per request line (no
/// newline, never empty). It must eventually call `connection.send` exactly once with the
/// response — at once or later from any thread — because the server reads the connection's next
/// request only after that; or call `connection.startStreaming()` and then send any number of
/// lines; or close the connection.
///
/// A request for which `isQuick` answers true is handled on the I/O thread instead, and its
/// answer written in the same turn of the loop: no hand-off to a pool thread and back. Only for
/// requests that never wait on the disk or on another client (at most a short lock).
protocol RequestHandler: Sendable {
    func handle(line: [UInt8], connection: ServerConnection)
    /// True when `line` may be handled on the I/O thread (see above). Default: false.
    func isQuick(_ line: [UInt8]) -> Bool
}

extension RequestHandler {
    func isQuick(_ line: [UInt8]) -> Bool { false }
}

/// Who is at the other end of a connection, from `SO_PEERCRED` at accept time.
struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t

    var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}
