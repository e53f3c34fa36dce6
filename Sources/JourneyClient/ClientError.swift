import Glibc
import JourneyCore
import JourneyProtocol

/// An error talking to `journeyd` over its socket: what went wrong, readable, with the `errno`
/// behind it when there is one.
public struct ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is: a failure on this side (`notRunning`, `timedOut`, …) or
    /// the code of the daemon's `{"ok":false,"error":{"code":…}}` answer (`notFound`,
    /// `conflict`, …, SPEC §4). A struct, not an enum, so new codes (the daemon may answer codes
    /// this client does not name) never break users' exhaustive switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code as it appears on the wire (`not_found`), or this side's name for it.
        public let rawValue: String
        /// A code by its wire name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// No daemon is listening at the socket path (missing file or refused connection).
        public static let notRunning = Code(rawValue: "not_running")
        /// Connecting failed for another reason (permissions, path too long, …).
        public static let connectFailed = Code(rawValue: "connect_failed")
        /// The daemon closed the connection (or this side already closed it).
        public static let connectionClosed = Code(rawValue: "connection_closed")
        /// A read or write on the socket failed.
        public static let ioFailed = Code(rawValue: "io_failed")
        /// The configured timeout passed without an answer.
        public static let timedOut = Code(rawValue: "timed_out")
        /// The request cannot be sent as one line (it contains a newline).
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// The connection was handed to a subscription stream and takes no more requests.
        public static let streaming = Code(rawValue: "streaming")
        /// The task waiting for the answer was cancelled (the connection was dropped with it).
        public static let cancelled = Code(rawValue: "cancelled")
        /// The daemon's answer does not have the shape the protocol gives it.
        public static let badAnswer = Code(rawValue: "bad_answer")

        // Codes the daemon answers (SPEC §4); `isDaemonError` is true for these.

        /// `patient` / `handoff` for an id never seen.
        public static let notFound = Code(rawValue: "not_found")
        /// An appended id is already stored with other content; nothing of the batch was appended.
        public static let conflict = Code(rawValue: "conflict")
        /// An appended event is invalid (the message names its index, field and reason).
        public static let invalidEvent = Code(rawValue: "invalid_event")
        /// A request member is missing or wrong.
        public static let badRequest = Code(rawValue: "bad_request")
        /// The request line is not JSON.
        public static let invalidJSON = Code(rawValue: "invalid_json")
        /// The request line is over the daemon's limit (1 MiB by default).
        public static let lineTooLong = Code(rawValue: "line_too_long")
        /// The daemon does not know the op.
        public static let unknownOp = Code(rawValue: "unknown_op")
        /// The projections are being rebuilt; `detail` holds the progress.
        public static let rebuilding = Code(rawValue: "rebuilding")
        /// The store failed (disk full, …).
        public static let storeError = Code(rawValue: "store_error")

        /// The code's wire name, e.g. `not_found`.
        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence a user can act on, naming the socket path where it helps.
    public var message: String
    /// The `errno` of the failed system call, if one failed.
    public var errno: Int32?
    /// True when the daemon answered `ok:false`: `code` and `message` are the daemon's.
    public var isDaemonError: Bool
    /// The daemon's whole `error` object (e.g. the progress of a `rebuilding`), when it answered one.
    public var detail: JSONValue?

    /// An error on this side (not the daemon's answer), with the `errno` of the failed system call
    /// when there is one.
    public init(code: Code, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
        self.isDaemonError = false
        self.detail = nil
    }

    /// The error of a daemon's `{"ok":false,"error":{…}}` answer.
    public init(daemonCode: String, message: String, detail: JSONValue? = nil) {
        self.code = Code(rawValue: daemonCode)
        self.message = message
        self.errno = nil
        self.isDaemonError = true
        self.detail = detail
    }

    /// `code: message`, e.g. `not_running: …`.
    public var description: String { "\(code): \(message)" }

    /// The daemon's error of an `{"ok":false,"error":{…}}` answer.
    public init(_ error: ProtocolError) {
        self.init(daemonCode: error.code, message: error.message, detail: error.object)
    }

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
