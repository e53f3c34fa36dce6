import Glibc

/// Answers the request lines of the socket server.
///
/// `handle` is called on a pool thread (it may block), never on the I/O thread, once per request line (no
/// newline, never empty). It must eventually call `connection.send` exactly once with the
/// response — at once or later from any thread — because the server reads the connection's next
/// request only after that; or call `connection.startStreaming()` and then send any number of
/// lines; or close the connection.
protocol RequestHandler: Sendable {
    func handle(line: [UInt8], connection: ServerConnection)
}

/// Who is at the other end of a connection, from `SO_PEERCRED` at accept time.
struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t

    var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}
