import Glibc
import JourneyProtocol

// The socket calls only the client makes (a blocking socket with timeouts); the shared ones are
// in `JourneyProtocol/System/SocketSyscalls.swift`.

extension Syscall {
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
}
