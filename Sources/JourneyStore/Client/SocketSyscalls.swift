import Glibc

// The only file that calls the socket-related parts of libc. The client in this folder and the
// daemon's server (`journeyd/Server`) go through these wrappers, which retry EINTR in one place
// and turn `errno` into a `SystemCallError` naming the call (shape of swift-nio's System.swift).

/// A failed system call: the call's name and the `errno` it left.
package struct SystemCallError: Error, CustomStringConvertible, Equatable {
    /// The C function that failed, e.g. `"connect"`.
    package var call: String
    /// The `errno` value.
    package var errno: Int32

    package init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// True for `EAGAIN`/`EWOULDBLOCK`: a non-blocking call found nothing to do.
    package var isWouldBlock: Bool { errno == EAGAIN || errno == EWOULDBLOCK }

    package var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// `struct ucred` from `<sys/socket.h>`, which Glibc's Swift module hides behind `_GNU_SOURCE`.
package struct PeerCred: Equatable {
    package var pid: pid_t = 0
    package var uid: uid_t = 0
    package var gid: gid_t = 0
    package init() {}
}

/// Typed wrappers around the socket system calls.
package enum Syscall {
    /// Runs `body` until it does not fail with `EINTR`; a result of -1 throws `SystemCallError`.
    @inline(__always)
    package static func retrying<T: FixedWidthInteger>(_ call: String, _ body: () -> T) throws(SystemCallError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemCallError(call: call, errno: code)
        }
    }

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

    /// Binds `fd` to the filesystem path `path`.
    ///
    /// The corresponding C function is `bind`.
    package static func bind(_ fd: Int32, path: String) throws(SystemCallError) {
        let result = try withUnixAddress(path, call: "bind") { Glibc.bind(fd, $0, $1) }
        if result == -1 { throw SystemCallError(call: "bind", errno: Glibc.errno) }
    }

    /// Connects `fd` to the socket at `path`.
    ///
    /// The corresponding C function is `connect`. EINTR is retried; on a blocking socket a
    /// retried connect may report `EISCONN`, which means it succeeded.
    package static func connect(_ fd: Int32, path: String) throws(SystemCallError) {
        while true {
            let result = try withUnixAddress(path, call: "connect") { Glibc.connect(fd, $0, $1) }
            if result == 0 { return }
            let code = Glibc.errno
            if code == EINTR { continue }
            if code == EISCONN { return }
            throw SystemCallError(call: "connect", errno: code)
        }
    }

    /// The corresponding C function is `listen`.
    package static func listen(_ fd: Int32, backlog: Int32) throws(SystemCallError) {
        _ = try retrying("listen") { Glibc.listen(fd, backlog) }
    }

    /// Accepts one connection; returns nil when none is pending (`EAGAIN`). The new descriptor
    /// is made non-blocking and close-on-exec (Glibc's module does not export `accept4`).
    ///
    /// The corresponding C function is `accept`.
    package static func accept(_ fd: Int32) throws(SystemCallError) -> Int32? {
        let client: Int32
        do {
            client = try retrying("accept") { Glibc.accept(fd, nil, nil) }
        } catch where error.isWouldBlock || error.errno == ECONNABORTED {
            return nil
        }
        do {
            try setNonBlocking(client)
            _ = try retrying("fcntl") { Glibc.fcntl(client, F_SETFD, FD_CLOEXEC) }
        } catch {
            close(client)
            throw error
        }
        return client
    }

    /// Sets `O_NONBLOCK` on `fd`.
    ///
    /// The corresponding C function is `fcntl`.
    package static func setNonBlocking(_ fd: Int32) throws(SystemCallError) {
        let flags = try retrying("fcntl") { Glibc.fcntl(fd, F_GETFL) }
        _ = try retrying("fcntl") { Glibc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
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

    /// Writes from `buffer` to a non-socket descriptor (a pipe); returns the bytes written, or nil on `EAGAIN`.
    ///
    /// The corresponding C function is `write`.
    package static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemCallError) -> Int? {
        do {
            return try retrying("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
        } catch where error.isWouldBlock {
            return nil
        }
    }

    /// Writes all of `bytes` to a blocking descriptor.
    package static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) -> Int? in
                    try send(fd, UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
            }
            let written = try result.get()
            // A blocking socket only reports EAGAIN when a send timeout (SO_SNDTIMEO) expired.
            guard let written else { throw SystemCallError(call: "send", errno: ETIMEDOUT) }
            offset += written
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

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO`, so blocking reads and writes give up after `milliseconds`.
    package static func setTimeouts(_ fd: Int32, milliseconds: Int) throws(SystemCallError) {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = try retrying("setsockopt") { Glibc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size) }
        _ = try retrying("setsockopt") { Glibc.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size) }
    }

    /// Shuts down both directions, waking any thread blocked in `read` on `fd`.
    ///
    /// The corresponding C function is `shutdown`; errors (e.g. not connected) are ignored.
    package static func shutdown(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Closes `fd`. Not retried on EINTR: on Linux the descriptor is released even then, and a
    /// retry could close a descriptor another thread has just been given.
    ///
    /// The corresponding C function is `close`.
    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Creates a non-blocking, close-on-exec pipe; returns (read end, write end).
    ///
    /// The corresponding C function is `pipe`.
    package static func pipe() throws(SystemCallError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        _ = try retrying("pipe") { Glibc.pipe(&ends) }
        for fd in ends {
            do {
                try setNonBlocking(fd)
                _ = try retrying("fcntl") { Glibc.fcntl(fd, F_SETFD, FD_CLOEXEC) }
            } catch {
                close(ends[0])
                close(ends[1])
                throw error
            }
        }
        return (ends[0], ends[1])
    }

    /// Opens (creating with `mode` if needed) a file for reading and writing, close-on-exec.
    ///
    /// The corresponding C function is `open`.
    package static func openForLock(_ path: String, mode: mode_t) throws(SystemCallError) -> Int32 {
        try retrying("open") { Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode) }
    }

    /// Takes an exclusive lock on `fd` without waiting; returns false if another holder has it.
    ///
    /// The corresponding C function is `flock`.
    package static func tryLockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool {
        do {
            _ = try retrying("flock") { () -> Int32 in
                let result: Int32 = flock(fd, LOCK_EX | LOCK_NB)
                return result
            }
            return true
        } catch where error.isWouldBlock {
            return false
        }
    }

    /// `lstat`: the file's status without following a symbolic link; nil if it does not exist.
    package static func lstat(_ path: String) throws(SystemCallError) -> stat? {
        var info = stat()
        do {
            _ = try retrying("lstat") { Glibc.lstat(path, &info) }
            return info
        } catch where error.errno == ENOENT {
            return nil
        }
    }

    /// The corresponding C function is `unlink`; a missing file is not an error.
    package static func unlink(_ path: String) throws(SystemCallError) {
        do {
            _ = try retrying("unlink") { Glibc.unlink(path) }
        } catch where error.errno == ENOENT {}
    }

    /// The corresponding C function is `chmod`.
    package static func chmod(_ path: String, _ mode: mode_t) throws(SystemCallError) {
        _ = try retrying("chmod") { Glibc.chmod(path, mode) }
    }

    /// Changes the group of `path`, keeping its owner.
    ///
    /// The corresponding C function is `chown`.
    package static func chgrp(_ path: String, _ group: gid_t) throws(SystemCallError) {
        _ = try retrying("chown") { Glibc.chown(path, uid_t.max, group) }
    }

    /// The corresponding C function is `rename`.
    package static func rename(_ from: String, _ to: String) throws(SystemCallError) {
        _ = try retrying("rename") { Glibc.rename(from, to) }
    }

    /// Creates a fresh directory `template` (ending in `XXXXXX`) with mode 0700; returns its path.
    ///
    /// The corresponding C function is `mkdtemp`.
    package static func makeTemporaryDirectory(_ template: String) throws(SystemCallError) -> String {
        var bytes = Array(template.utf8CString)
        let created = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard created else { throw SystemCallError(call: "mkdtemp", errno: Glibc.errno) }
        return String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The corresponding C function is `rmdir`; errors are ignored (best-effort cleanup).
    package static func removeDirectory(_ path: String) {
        _ = Glibc.rmdir(path)
    }

    /// Whether the user `uid` belongs to group `gid`, as primary or supplementary group.
    ///
    /// The corresponding C functions are `getpwuid_r` and `getgrouplist`.
    package static func user(_ uid: uid_t, isMemberOf gid: gid_t) -> Bool {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var scratch = [CChar](repeating: 0, count: 16 * 1024)
        let status = getpwuid_r(uid, &entry, &scratch, scratch.count, &result)
        guard status == 0, result != nil, let name = entry.pw_name else { return false }
        if entry.pw_gid == gid { return true }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, entry.pw_gid, &groups, &count) == -1 {
            // `count` now holds the number needed.
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, entry.pw_gid, &groups, &count) != -1 else { return false }
        }
        return groups.prefix(Int(count)).contains(gid)
    }
}
