import Glibc
import JourneyProtocol

/// Answers the request lines of the socket server.
///
/// `handle` is called on a pool thread (it may block), once per request line (no
/// newline, never empty). It must eventually call `connection.send` exactly once with the
/// response — at once or later from any thread — because the server dispatches the connection's
/// next request only after that; or call `connection.startStreaming()` and then send any number
/// of lines; or close the connection. To let the next request go ahead before this one is
/// answered (pipelining), it takes `connection.ticket`, calls `connection.detach(ticket)`, and
/// answers later with `connection.send(_:for:)`; answers still go out in request order.
///
/// Every request line first goes to `accept` on the I/O thread, which either answers it there
/// (returns nil: no hand-off to a pool thread and back) or returns the work to run on a pool
/// thread. Answering there is only for requests that never wait on the disk or on another
/// client (at most a short lock). By default every request goes to `handle` on the pool.
protocol RequestHandler: Sendable {
    func handle(line: [UInt8], connection: ServerConnection)
    /// Answers `line` now, on the I/O thread (nil), or returns the pool job that will.
    func accept(line: [UInt8], connection: ServerConnection) -> (@Sendable () -> Void)?
}

extension RequestHandler {
    func accept(line: [UInt8], connection: ServerConnection) -> (@Sendable () -> Void)? {
        { handle(line: line, connection: connection) }
    }
}

/// Who is at the other end of a connection, from `SO_PEERCRED` at accept time.
struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t

    var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}
