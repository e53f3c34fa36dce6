import Foundation
import Glibc
import JourneyProtocol
import JourneyStore
import Synchronization

/// The daemon's transport (SPEC §4): a Unix stream socket speaking newline-delimited requests,
/// generic over what answers them.
///
/// One I/O thread polls every connection; request lines go to `handler` on a growing thread pool, so
/// a slow handler never stalls other clients. Each connection gets its answers in request order:
/// its next line is dispatched once the previous one was answered or detached by the handler
/// (pipelining, up to `ServerConfig.maxRequestsInFlight` unanswered requests).
///
/// The socket file is mode 0600 (0660 with `allowGroup`), and a lock file `PATH.lock`, held for
/// the server's life, keeps a second server off the same path; a socket left by a crash is replaced.
final class UnixSocketServer: Sendable {
    /// The socket's filesystem path.
    let path: String
    let config: ServerConfig
    private let handler: any RequestHandler
    private let lifecycle = Mutex(Lifecycle.idle)

    private enum Lifecycle {
        case idle
        case running(lockFd: Int32, control: LoopControl)
        case stopped
    }

    /// Creates a server; nothing happens until `start()`.
    init(path: String, config: ServerConfig = ServerConfig(), handler: any RequestHandler) {
        self.path = path
        self.config = config
        self.handler = handler
    }

    deinit {
        stop()
    }

    /// The lock file next to the socket.
    var lockPath: String { path + ".lock" }

    /// Takes the lock, creates the socket file and starts serving on a new thread.
    ///
    /// - Throws: `ServerError` with code `alreadyRunning` if another server holds the lock,
    ///   `notASocket` if a non-socket file sits at the path, `setupFailed` for system errors.
    func start() throws(ServerError) {
        // A peer that hangs up must cost an EPIPE, never the process. Sends use MSG_NOSIGNAL and
        // the wake-up pipe's reader outlives its writer; ignoring the signal also covers the
        // pipes of anything else the embedding process runs.
        signal(SIGPIPE, SIG_IGN)
        try lifecycle.withLock { (state: inout Lifecycle) throws(ServerError) in
            guard case .idle = state else {
                throw ServerError(code: .alreadyStarted, message: "the server for \(path) was already started")
            }
            let lockFd = try acquireLock()
            var listenFd: Int32 = -1
            var wakeFds: (Int32, Int32) = (-1, -1)
            do throws(ServerError) {
                listenFd = try createListeningSocket()
                wakeFds = try Self.mapping("creating the wake-up pipe") { () throws(SystemCallError) in try Syscall.pipe() }
            } catch {
                if listenFd >= 0 {
                    Syscall.close(listenFd)
                    try? Syscall.unlink(path)
                }
                Syscall.close(lockFd)
                throw error
            }
            let control = LoopControl(wakeWriteFd: wakeFds.1)
            let loop = EventLoopBox(
                EventLoop(
                    socketPath: path, listenFd: listenFd, wakeReadFd: wakeFds.0, control: control,
                    config: config, handler: handler))
            let thread = Thread {
                loop.take().run()
                control.finished.signal()
            }
            thread.name = "journeyd-io"
            thread.start()
            state = .running(lockFd: lockFd, control: control)
        }
    }

    /// Stops accepting, lets dispatched requests finish and their answers flush (up to
    /// `config.drainTimeout`), closes every connection, removes the socket file and releases
    /// the lock. Blocks until done; calling it again does nothing.
    func stop() {
        let running = lifecycle.withLock { state -> (Int32, LoopControl)? in
            guard case .running(let lockFd, let control) = state else {
                state = .stopped
                return nil
            }
            state = .stopped
            return (lockFd, control)
        }
        guard let (lockFd, control) = running else { return }
        control.requestStop()
        control.finished.wait()
        try? Syscall.unlink(path)
        // The lock file stays: unlinking it while locked would let two servers lock different files.
        Syscall.close(lockFd)
    }

    // MARK: - Socket file

    private func acquireLock() throws(ServerError) -> Int32 {
        let fd = try Self.mapping("opening the lock file \(lockPath)") { () throws(SystemCallError) in
            try Syscall.openForLock(lockPath, mode: 0o600)
        }
        let locked: Bool
        do {
            locked = try Syscall.tryLockExclusive(fd)
        } catch {
            Syscall.close(fd)
            throw ServerError(error, doing: "locking \(lockPath)")
        }
        guard locked else {
            Syscall.close(fd)
            throw ServerError(
                code: .alreadyRunning,
                message: "another journeyd is already serving \(path) (it holds the lock \(lockPath))")
        }
        return fd
    }

    /// Binds in a private 0700 directory, sets the mode (and group), then renames the socket into
    /// place: no one can connect before the permissions are final, the umask (process-wide, so
    /// unsafe to change with other threads running) is not touched, and a stale socket is
    /// replaced atomically.
    private func createListeningSocket() throws(ServerError) -> Int32 {
        if let existing = try Self.mapping("inspecting \(path)", { () throws(SystemCallError) in try Syscall.lstat(path) }),
            existing.st_mode & S_IFMT != S_IFSOCK
        {
            throw ServerError(
                code: .notASocket, message: "\(path) exists and is not a socket; refusing to replace it")
        }
        let fd = try Self.mapping("creating the socket") { () throws(SystemCallError) in
            try Syscall.unixStreamSocket(nonBlocking: true)
        }
        do {
            let mode: mode_t = config.allowGroup == nil ? 0o600 : 0o660
            let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            let privateDirectory = try Self.mapping("creating a directory next to \(path)") { () throws(SystemCallError) in
                try Syscall.makeTemporaryDirectory((directory.isEmpty ? "" : directory) + "/.journeyd-XXXXXX")
            }
            defer { Syscall.removeDirectory(privateDirectory) }
            let temporary = privateDirectory + "/s"
            try Self.mapping("binding \(path)") { () throws(SystemCallError) in
                do throws(SystemCallError) {
                    try Syscall.bind(fd, path: temporary)
                } catch where error.errno == ENAMETOOLONG {
                    // The detour does not fit in sun_path: bind in place. Until chmod, the
                    // umask-derived mode applies, and accept still checks the peer's uid.
                    try Syscall.unlink(path)
                    try Syscall.bind(fd, path: path)
                    try Syscall.chmod(path, mode)
                    if let group = config.allowGroup { try Syscall.chgrp(path, group) }
                    return
                }
                if let group = config.allowGroup { try Syscall.chgrp(temporary, group) }
                try Syscall.chmod(temporary, mode)
                try Syscall.rename(temporary, path)
            }
            try Self.mapping("listening on \(path)") { () throws(SystemCallError) in
                try Syscall.listen(fd, backlog: config.backlog)
            }
        } catch {
            Syscall.close(fd)
            throw error
        }
        return fd
    }

    private static func mapping<T>(_ what: String, _ body: () throws(SystemCallError) -> T) throws(ServerError) -> T {
        do {
            return try body()
        } catch {
            if error.errno == ENAMETOOLONG {
                throw ServerError(
                    code: .setupFailed, message: "\(what): the socket path is longer than 107 bytes", errno: error.errno)
            }
            throw ServerError(error, doing: what)
        }
    }
}

/// Moves the non-Sendable `EventLoop` into its thread; it is used only there.
private final class EventLoopBox: @unchecked Sendable {
    private var loop: EventLoop?
    init(_ loop: EventLoop) { self.loop = loop }
    func take() -> EventLoop {
        defer { loop = nil }
        return loop!
    }
}
