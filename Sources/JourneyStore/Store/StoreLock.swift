import Glibc
import JourneyProtocol
import Synchronization

/// The exclusive writer lock of a store: the file `DIR/writer.lock`, locked with `flock` by the
/// one process that writes the store for as long as it has it open, and holding that process's
/// record (`StoreHolder`).
///
/// A `flock` lock belongs to the open file, not to the process, so a second open for writing is
/// refused within one process too; and the kernel drops it when its holder exits, however it
/// exits (`kill -9` included), so a lock is never left behind. The file itself stays: removing a
/// file others may hold open would let two writers lock two different files. An empty file
/// means its last holder let go cleanly.
package final class StoreLock: Sendable {
    /// The lock file's name in the store's directory.
    package static let fileName = StoreHolder.lockFileName

    /// The lock file's path.
    package let path: String
    private let fd: Int32
    private let holder: Mutex<StoreHolder>

    /// Takes the lock of the store in `directory` (creating the directory, mode 0700, when it is
    /// missing) and records this process as its holder, on disk before it returns.
    ///
    /// - Parameter program: what this process runs, for the record (see `StoreHolder.program`).
    /// - Throws: `StoreError` `.storeBusy` naming the holder when another process holds the lock,
    ///   `.alreadyOpen` when this process does, `.io` when the file cannot be opened or written.
    package init(directory: String, program: String = StoreHolder.currentProgram) throws(StoreError) {
        path = Self.path(in: directory)
        do { try Syscall.makeDirectory(directory, mode: 0o700) } catch {
            throw StoreError(.io, "cannot create the store directory \(directory): \(error)", context: .init(path: directory))
        }
        let fd: Int32
        do { fd = try Syscall.openForLock(path, mode: 0o600) } catch {
            throw StoreError(.io, "cannot open the store's writer lock \(path): \(error)", context: .init(path: path))
        }
        let me = StoreHolder(pid: getpid(), program: program, startedAt: Clock.nowMs())
        do {
            try Self.lock(fd, path: path, directory: directory)
            try Self.write(me, to: fd, path: path)
        } catch {
            Syscall.close(fd)
            throw error
        }
        self.fd = fd
        holder = Mutex(me)
    }

    deinit {
        // Empty the record while still holding the lock: the next reader sees the store free.
        try? Syscall.truncate(fd, to: 0)
        Syscall.close(fd)
    }

    /// Records the socket this process serves the store on (nil: none any more), so that the
    /// command line finds it there. A relative path is recorded absolute, since the record is
    /// read from other working directories.
    package func announce(socket: String?) throws(StoreError) {
        let socket = socket.map(Self.absolute)
        try holder.withLock { (h: inout StoreHolder) throws(StoreError) in
            h.socket = socket
            try Self.write(h, to: fd, path: path)
        }
    }

    /// The record in the lock file of the store in `directory`: its writer, or the last one
    /// when that one died without letting go (only the lock itself tells, and only to whoever
    /// tries to take it). Nil when there is none.
    package static func record(in directory: String) -> StoreHolder? {
        StoreHolder.read(directory: directory)
    }

    /// `path`, made absolute against the working directory.
    private static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// The lock file of the store in `directory`.
    package static func path(in directory: String) -> String { directory + "/" + fileName }

    // MARK: -

    /// Takes the lock on `fd`, or throws the error naming its holder.
    private static func lock(_ fd: Int32, path: String, directory: String) throws(StoreError) {
        var holder: StoreHolder?
        // A holder writes its record just after it takes the lock: give the refusal a moment to
        // name it (and the lock a moment to come free, should its holder be closing).
        for _ in 0..<20 {
            let locked: Bool
            do { locked = try Syscall.tryLockExclusive(fd) } catch {
                throw StoreError(.io, "cannot lock \(path): \(error)", context: .init(path: path))
            }
            if locked { return }
            holder = StoreHolder(decoding: (try? Syscall.readFile(path)) ?? [])
            if holder != nil { break }
            usleep(5_000)
        }
        throw busy(directory, holder)
    }

    /// The refusal of a second writer: who writes the store, and what to do instead.
    static func busy(_ directory: String, _ holder: StoreHolder?) -> StoreError {
        guard let holder else {
            return StoreError(
                .storeBusy,
                "the store in \(directory) is already being written by another process (it has not recorded itself in \(path(in: directory)) yet); send writes through the daemon serving it, or wait for that process to finish",
                context: .init(path: directory))
        }
        if holder.pid == getpid() {
            return StoreError(
                .alreadyOpen,
                "the store in \(directory) is already open for writing in this process (\(holder)); share that EventLog",
                context: .init(path: directory, holder: holder))
        }
        let advice = holder.socket != nil
            ? "send writes through its socket (journeyd commands do this by themselves) or stop it first"
            : "wait for it to finish or stop it first (reading is not blocked: open the store read-only)"
        return StoreError(
            .storeBusy, "the store in \(directory) is already being written by \(holder); \(advice)",
            context: .init(path: directory, holder: holder))
    }

    /// Replaces the record with `holder` and flushes it to disk.
    private static func write(_ holder: StoreHolder, to fd: Int32, path: String) throws(StoreError) {
        do {
            try Syscall.truncate(fd, to: 0)
            try Syscall.writeAll(fd, holder.encoded, at: 0)
            try Syscall.sync(fd)
        } catch {
            throw StoreError(.io, "cannot write the writer record \(path): \(error)", context: .init(path: path))
        }
    }
}
