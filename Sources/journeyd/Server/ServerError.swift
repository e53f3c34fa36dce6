import JourneyProtocol
import JourneyStore

/// Why a `UnixSocketServer` could not start: a code, a sentence naming the path, and the
/// `errno` behind it when a system call failed.
struct ServerError: Error, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case alreadyRunning = "already_running"
            case notASocket = "not_a_socket"
            case alreadyStarted = "already_started"
            case setupFailed = "setup_failed"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Another server holds the lock file next to the socket.
        static let alreadyRunning = Code(.alreadyRunning)
        /// Something that is not a socket exists at the socket path; it is left alone.
        static let notASocket = Code(.notASocket)
        /// `start()` was called on a server that was already started.
        static let alreadyStarted = Code(.alreadyStarted)
        /// A system call failed while creating the socket.
        static let setupFailed = Code(.setupFailed)

        var description: String { value.rawValue }
    }

    var code: Code
    var message: String
    var errno: Int32?

    init(code: Code, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    init(_ error: SystemCallError, doing what: String) {
        self.init(code: .setupFailed, message: "\(what): \(error)", errno: error.errno)
    }

    var description: String { "\(code): \(message)" }
}
