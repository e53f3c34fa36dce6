import Glibc

/// Limits and permissions of a `UnixSocketServer`.
struct ServerConfig: Sendable {
    /// Longest request line accepted, in bytes, not counting the newline (SPEC §4: 1 MiB).
    var maxLineBytes: Int = 1 << 20
    /// Most bytes queued for one client; a client that stops reading past this is disconnected,
    /// so it never holds memory or slows other clients.
    var maxOutputBytes: Int = 4 << 20
    /// Most bytes queued for all clients together; a client whose answer would pass it is
    /// disconnected, and subscriptions wait for room (and are disconnected if they stall).
    var maxTotalOutputBytes: Int = 64 << 20
    /// Most connections open at once; a client past it gets a `too_many_connections` error
    /// line and is closed.
    var maxConnections: Int = 1024
    /// A connection with nothing in flight, nothing queued and no byte from its client for this
    /// long is closed (subscriptions are never idle). Nil: never.
    var idleTimeout: Duration? = .seconds(300)
    /// A connection with answers queued whose client takes none of them for this long is
    /// closed (a client that pipelines requests and never reads holds no memory for long).
    var stallTimeout: Duration = .seconds(30)
    /// When set, members of this group may connect too, and the socket file is mode 0660 with
    /// this group; otherwise the socket is 0600 and only the server's own user may connect.
    var allowGroup: gid_t? = nil
    /// How long `stop()` waits for in-flight requests to be answered and flushed; also how long
    /// a connection closed by its handler may take to flush what was queued before it.
    var drainTimeout: Duration = .seconds(5)
    /// Most requests of one connection dispatched and not yet answered (pipelining); at the
    /// bound the server stops reading that connection until answers go out.
    var maxRequestsInFlight: Int = 128
    /// Most bytes of request lines of one connection in flight (one request may always go, up
    /// to `maxLineBytes`): bounds the memory a pipelining client holds.
    var maxInFlightBytes: Int = 8 << 20
    /// The `listen` backlog.
    var backlog: Int32 = 512

    init(
        maxLineBytes: Int = 1 << 20, maxOutputBytes: Int = 4 << 20, allowGroup: gid_t? = nil,
        drainTimeout: Duration = .seconds(5)
    ) {
        self.maxLineBytes = maxLineBytes
        self.maxOutputBytes = maxOutputBytes
        self.allowGroup = allowGroup
        self.drainTimeout = drainTimeout
    }
}
