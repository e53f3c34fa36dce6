import Glibc

// The system-call layer shared by the store, the daemon and the client: the error type and the
// one helper that retries EINTR and turns `errno` into a `SystemCallError` naming the call
// (shape of swift-nio's System.swift). Each module adds the wrappers it alone uses beside the
// code that uses them: the store's file calls (`JourneyStore/Store/FileSyscalls.swift`), the
// client's (`JourneyClient/ClientSyscalls.swift`), the server's (`journeyd/Server/ServerSyscalls.swift`);
// the socket calls both ends use are in `SocketSyscalls.swift`.

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

/// Typed wrappers around system calls.
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

    /// Closes `fd`. Not retried on EINTR: on Linux the descriptor is released even then, and a
    /// retry could close a descriptor another thread has just been given.
    ///
    /// The corresponding C function is `close`.
    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// The whole content of the small file at `path` (at most `limit` bytes are read); nil when
    /// it does not exist.
    ///
    /// The corresponding C functions are `open`, `read` and `close`.
    package static func readFile(_ path: String, limit: Int = 1 << 16) throws(SystemCallError) -> [UInt8]? {
        let fd: Int32
        do {
            fd = try retrying("open") { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        } catch where error.errno == ENOENT {
            return nil
        }
        defer { close(fd) }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while content.count < limit {
            let n = try chunk.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) -> Int in
                    try retrying("read") { Glibc.read(fd, raw.baseAddress, raw.count) }
                }
            }.get()
            if n == 0 { break }
            content.append(contentsOf: chunk[..<n])
        }
        return content
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
}
