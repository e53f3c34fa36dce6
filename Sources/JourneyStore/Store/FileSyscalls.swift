import Glibc

// The file system calls of the store's writer lock (`StoreLock`), beside the socket ones of
// `Client/SocketSyscalls.swift`: same shape, EINTR retried by `Syscall.retrying`.

extension Syscall {
    /// Creates the directory `path` with `mode`; an existing one is not an error.
    ///
    /// The corresponding C function is `mkdir`.
    package static func makeDirectory(_ path: String, mode: mode_t) throws(SystemCallError) {
        do {
            _ = try retrying("mkdir") { Glibc.mkdir(path, mode) }
        } catch where error.errno == EEXIST {}
    }

    /// Cuts the file open at `fd` to `length` bytes.
    ///
    /// The corresponding C function is `ftruncate`.
    package static func truncate(_ fd: Int32, to length: Int) throws(SystemCallError) {
        _ = try retrying("ftruncate") { Glibc.ftruncate(fd, off_t(length)) }
    }

    /// Writes all of `bytes` at `offset` of the file open at `fd`.
    ///
    /// The corresponding C function is `pwrite`.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let written = try bytes.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) -> Int in
                    try retrying("pwrite") { Glibc.pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done)) }
                }
            }.get()
            guard written > 0 else { throw SystemCallError(call: "pwrite", errno: EIO) }
            done += written
        }
    }

    /// Flushes the file open at `fd` to disk.
    ///
    /// The corresponding C function is `fsync`.
    package static func sync(_ fd: Int32) throws(SystemCallError) {
        _ = try retrying("fsync") { Glibc.fsync(fd) }
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
}
