import Glibc
import JourneyProtocol
import Synchronization

/// A raw connection to `journeyd`'s Unix socket: one JSON request line out, one response line in.
///
/// Use it from one thread at a time. Requests may be pipelined with `send` and `receive`; the
/// daemon answers the requests of a connection in order. `JourneyClient` is the typed, `async`
/// client built on the same socket code.
public final class JourneyConnection {
    /// The socket path this connection was opened on.
    public let socketPath: String
    private let socket: ClientSocket
    private var reader = LineReader()
    private var handedToStream = false

    /// Connects to the daemon listening at `socketPath`.
    ///
    /// - Parameters:
    ///   - socketPath: the daemon's socket, e.g. `DIR/journeyd.sock`.
    ///   - timeout: a connect, read or write that makes no progress for this long fails with
    ///     `ClientError.Code.timedOut` (nil: wait for ever).
    /// - Throws: `ClientError` with code `notRunning` when nothing listens there.
    public init(socketPath: String, timeout: Duration? = .seconds(30)) throws(ClientError) {
        self.socketPath = socketPath
        socket = try Self.openSocket(path: socketPath, timeout: timeout)
    }

    /// Connects a blocking Unix stream socket to `path`, with `timeout` on each read and write.
    static func openSocket(path socketPath: String, timeout: Duration?) throws(ClientError) -> ClientSocket {
        let fd: Int32
        do {
            fd = try Syscall.unixStreamSocket(nonBlocking: false)
        } catch {
            throw ClientError(code: .connectFailed, message: "cannot create a socket: \(error)", errno: error.errno)
        }
        do {
            // Before connecting: a daemon whose listen queue is full (out of descriptors) makes
            // connect wait, for as long as the send timeout.
            if let timeout {
                let (seconds, attoseconds) = timeout.components
                let milliseconds = max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
                try Syscall.setTimeouts(fd, milliseconds: milliseconds)
            }
            try Syscall.connect(fd, path: socketPath)
        } catch {
            Syscall.close(fd)
            switch error.errno {
            case EAGAIN, ETIMEDOUT:
                throw ClientError(
                    code: .timedOut, message: "journeyd at \(socketPath) accepted no connection in time", errno: error.errno)
            case ENOENT, ECONNREFUSED:
                throw ClientError(
                    code: .notRunning, message: "no journeyd is listening at \(socketPath)", errno: error.errno)
            case ENAMETOOLONG:
                throw ClientError(
                    code: .connectFailed,
                    message: "socket path is too long for a Unix socket (max 107 bytes): \(socketPath)",
                    errno: error.errno)
            default:
                throw ClientError(
                    code: .connectFailed, message: "cannot connect to \(socketPath): \(error)", errno: error.errno)
            }
        }
        return ClientSocket(fd: fd)
    }

    deinit {
        if !handedToStream { socket.close() }
    }

    /// The process id of the daemon at the other end, as the kernel recorded it when the daemon
    /// listened (`SO_PEERCRED`); nil when unknown.
    package var peerProcessID: Int32? {
        guard let pid = try? Syscall.peerCredentials(socket.fd).pid, pid > 0 else { return nil }
        return pid
    }

    /// Sends one request line and returns the response line (without its newline).
    public func request(_ line: String) throws(ClientError) -> String {
        String(decoding: try requestBytes(Array(line.utf8)), as: UTF8.self)
    }

    /// Sends one request line given as UTF-8 bytes and returns the response line's bytes.
    public func requestBytes(_ line: [UInt8]) throws(ClientError) -> [UInt8] {
        try sendBytes(line)
        return try receiveBytes()
    }

    /// Sends one request line without waiting for its answer (for pipelining).
    public func send(_ line: String) throws(ClientError) {
        try sendBytes(Array(line.utf8))
    }

    /// Sends one request line, given as bytes, without waiting for its answer.
    public func sendBytes(_ line: [UInt8]) throws(ClientError) {
        try checkUsable()
        guard !line.contains(UInt8(ascii: "\n")) else {
            throw ClientError(code: .invalidRequest, message: "a request must be one line: it contains a newline")
        }
        var framed = line
        framed.append(UInt8(ascii: "\n"))
        do {
            try Syscall.sendAll(socket.fd, framed)
        } catch {
            throw ClientError(io: error, path: socketPath)
        }
    }

    /// Reads the next response line (without its newline).
    public func receive() throws(ClientError) -> String {
        String(decoding: try receiveBytes(), as: UTF8.self)
    }

    /// Reads the next response line as bytes (without its newline).
    public func receiveBytes() throws(ClientError) -> [UInt8] {
        try checkUsable()
        guard let line = try reader.nextLine(fd: socket.fd, path: socketPath) else {
            throw ClientError(code: .connectionClosed, message: "journeyd at \(socketPath) closed the connection")
        }
        return line
    }

    /// Closes the connection; later calls fail with `connectionClosed`.
    public func close() {
        if handedToStream {
            socket.shutdown()
        } else {
            socket.close()
        }
    }

    /// Sends `line` (e.g. a `subscribe` request) and returns every line the daemon sends back,
    /// starting with its response, until the daemon closes the connection or the consumer stops
    /// iterating (which closes the connection).
    ///
    /// The connection belongs to the stream afterwards: further requests on it fail with
    /// `ClientError.Code.streaming`. Lines are read on a dedicated thread and buffered until
    /// consumed (without bound: a consumer slower than the daemon grows memory). The `timeout`
    /// given at init does not apply to the stream.
    public func stream(_ line: String) -> AsyncThrowingStream<String, Error> {
        do {
            try sendBytes(Array(line.utf8))
        } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
        handedToStream = true
        // A subscription may be quiet for hours: the request timeout does not apply to it.
        try? Syscall.setTimeouts(socket.fd, milliseconds: 0)
        let leftover = self.reader
        self.reader = LineReader()
        return LineStream.start(socket: socket, path: socketPath, reader: leftover, credits: nil) { line, _ in
            String(decoding: line, as: UTF8.self)
        }
    }

    private func checkUsable() throws(ClientError) {
        if handedToStream {
            throw ClientError(code: .streaming, message: "this connection is streaming a subscription")
        }
        if socket.isClosed {
            throw ClientError(code: .connectionClosed, message: "the connection to \(socketPath) is closed")
        }
    }
}

/// The socket descriptor, shared with a stream's reader thread: closed exactly once, and shut
/// down (to wake a blocked reader) only while still open, so a reused descriptor is never hit.
final class ClientSocket: Sendable {
    let fd: Int32
    private struct State {
        var closed = false
        var shutDown = false
    }
    private let state = Mutex(State())

    init(fd: Int32) { self.fd = fd }

    var isClosed: Bool { state.withLock { $0.closed } }
    var isShutDown: Bool { state.withLock { $0.shutDown } }

    func shutdown() {
        state.withLock {
            guard !$0.closed, !$0.shutDown else { return }
            $0.shutDown = true
            Syscall.shutdown(fd)
        }
    }

    func close() {
        state.withLock {
            guard !$0.closed else { return }
            $0.closed = true
            Syscall.close(fd)
        }
    }
}

/// Splits a byte stream into lines, keeping what follows the last newline for the next call.
struct LineReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    /// The next line without its newline, or nil at a clean end of stream.
    mutating func nextLine(fd: Int32, path: String) throws(ClientError) -> [UInt8]? {
        while true {
            if let newline = buffer.firstNewline(from: scanned) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                scanned = start
                if start == buffer.count {
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                    scanned = 0
                }
                return line
            }
            scanned = buffer.count
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeSubrange(0..<start)
                scanned -= start
                start = 0
            }
            let result = scratch.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) -> Int? in try Syscall.read(fd, into: raw) }
            }
            var received: Int? = 0
            var failure: SystemCallError?
            switch result {
            case .success(let count):
                received = count
                if let count { buffer.append(contentsOf: scratch[..<count]) }
            case .failure(let error):
                failure = error
            }
            if let failure {
                if failure.errno == EBADF {
                    throw ClientError(code: .connectionClosed, message: "the connection to \(path) is closed")
                }
                throw ClientError(io: failure, path: path)
            }
            // EAGAIN on a blocking socket: SO_RCVTIMEO expired.
            guard let received else {
                throw ClientError(code: .timedOut, message: "no answer from journeyd at \(path) in time", errno: EAGAIN)
            }
            if received == 0 {
                if start == buffer.count { return nil }
                throw ClientError(
                    code: .connectionClosed, message: "journeyd at \(path) closed the connection in the middle of a line")
            }
        }
    }
}
