import Glibc
import JourneyProtocol

// The file system calls of the store's writer lock (`StoreLock`, and the daemon's socket lock),
// on the shared layer of `JourneyProtocol/System/Syscall.swift`: EINTR retried by `Syscall.retrying`.

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
}
