import Glibc

/// An error talking to `journeyd` over its socket: what went wrong, readable, with the `errno`
/// behind it when there is one.
public struct ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is. A struct over a private enum, so new codes can be added
    /// without breaking users' exhaustive switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notRunning = "not_running"
            case connectFailed = "connect_failed"
            case connectionClosed = "connection_closed"
            case ioFailed = "io_failed"
            case timedOut = "timed_out"
            case invalidRequest = "invalid_request"
            case streaming = "streaming"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// No daemon is listening at the socket path (missing file or refused connection).
        public static let notRunning = Code(.notRunning)
        /// Connecting failed for another reason (permissions, path too long, …).
        public static let connectFailed = Code(.connectFailed)
        /// The daemon closed the connection (or this side already closed it).
        public static let connectionClosed = Code(.connectionClosed)
        /// A read or write on the socket failed.
        public static let ioFailed = Code(.ioFailed)
        /// The configured timeout passed without an answer.
        public static let timedOut = Code(.timedOut)
        /// The request cannot be sent as one line (it contains a newline).
        public static let invalidRequest = Code(.invalidRequest)
        /// The connection was handed to a subscription stream and takes no more requests.
        public static let streaming = Code(.streaming)

        public var description: String { value.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence a user can act on, naming the socket path where it helps.
    public var message: String
    /// The `errno` of the failed system call, if one failed.
    public var errno: Int32?

    public init(code: Code, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { "\(code): \(message)" }

    /// Maps a failed read/write: timeouts, a peer that went away, anything else.
    init(io error: SystemCallError, path: String) {
        switch error.errno {
        case ETIMEDOUT, EAGAIN:
            self.init(code: .timedOut, message: "no answer from journeyd at \(path) in time", errno: error.errno)
        case EPIPE, ECONNRESET:
            self.init(code: .connectionClosed, message: "journeyd at \(path) closed the connection", errno: error.errno)
        default:
            self.init(code: .ioFailed, message: "talking to journeyd at \(path): \(error)", errno: error.errno)
        }
    }
}
