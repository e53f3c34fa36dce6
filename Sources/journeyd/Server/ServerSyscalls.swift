import Glibc
import JourneyProtocol

// The system calls only the daemon's server makes (listening socket, accepted connections, the
// wake-up pipe, the socket file); the shared ones are in `JourneyProtocol/System/`.

extension Syscall {
    /// Binds `fd` to the filesystem path `path`.
    ///
    /// The corresponding C function is `bind`.
    package static func bind(_ fd: Int32, path: String) throws(SystemCallError) {
        let result = try withUnixAddress(path, call: "bind") { Glibc.bind(fd, $0, $1) }
        if result == -1 { throw SystemCallError(call: "bind", errno: Glibc.errno) }
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
