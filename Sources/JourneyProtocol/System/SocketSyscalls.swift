import Glibc

// The socket calls both ends of the protocol make: the client (`JourneyClient`) and the
// daemon's server (`journeyd/Server`).

/// `struct ucred` from `<sys/socket.h>`, which Glibc's Swift module hides behind `_GNU_SOURCE`.
package struct PeerCred: Equatable {
    package var pid: pid_t = 0
    package var uid: uid_t = 0
    package var gid: gid_t = 0
    package init() {}
}

/// Typed wrappers around the socket system calls.

extension Syscall {
    /// Creates a Unix stream socket with close-on-exec set.
    ///
    /// The corresponding C function is `socket`.
    package static func unixStreamSocket(nonBlocking: Bool) throws(SystemCallError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try retrying("socket") { Glibc.socket(AF_UNIX, type, 0) }
    }

    /// Builds a `sockaddr_un` for `path` and lends it to `body`; throws `ENAMETOOLONG` when the
    /// path does not fit in `sun_path` (108 bytes including the terminating NUL).
    package static func withUnixAddress<R>(
        _ path: String, call: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(SystemCallError) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw SystemCallError(call: call, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// Reads into `buffer`; returns the byte count (0 at end of stream) or nil on `EAGAIN`.
    ///
    /// The corresponding C function is `read`.
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        do {
            return try retrying("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        } catch where error.isWouldBlock {
            return nil
        }
    }

    /// Writes from `buffer` without raising SIGPIPE; returns the bytes written, or nil on `EAGAIN`.
    ///
    /// The corresponding C function is `send` with `MSG_NOSIGNAL`.
    package static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemCallError) -> Int? {
        do {
            return try retrying("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
        } catch where error.isWouldBlock {
            return nil
        }
    }

    /// Waits for events on `fds`; returns how many have non-zero `revents`.
    ///
    /// The corresponding C function is `poll`. EINTR returns 0 instead of retrying, because the
    /// caller recomputes its timeout each round.
    package static func poll(_ fds: inout [pollfd], timeoutMs: Int32) throws(SystemCallError) -> Int {
        let result = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeoutMs) }
        if result == -1 {
            let code = Glibc.errno
            if code == EINTR { return 0 }
            throw SystemCallError(call: "poll", errno: code)
        }
        return Int(result)
    }

    /// The credentials of the process at the other end of a Unix socket.
    ///
    /// The corresponding C function is `getsockopt` with `SO_PEERCRED`.
    package static func peerCredentials(_ fd: Int32) throws(SystemCallError) -> PeerCred {
        var credentials = PeerCred()
        var length = socklen_t(MemoryLayout<PeerCred>.size)
        _ = try retrying("getsockopt") { Glibc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) }
        return credentials
    }
}
