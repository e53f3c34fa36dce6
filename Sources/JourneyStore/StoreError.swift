import Glibc
import JourneyProtocol

/// An error of the event store, carrying what a user needs to act on it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct rather than an enum so that new codes do not break
    /// exhaustive switches of callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Sendable {
            case conflict, mapFull = "map_full", futureVersion = "future_version", corrupt, io
            case notFound = "not_found", invalidArgument = "invalid_argument", tooLarge = "too_large"
            case alreadyOpen = "already_open", diskFull = "disk_full", writesStopped = "writes_stopped"
            case storeBusy = "store_busy", readOnly = "read_only", oldFormat = "old_format"
            case erased
        }
        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }

        /// An id already stored (or earlier in the batch) with different content.
        public static let conflict = Code(.conflict)
        /// An event id that an erasure rewrote, sent again with other content (an old export):
        /// refused, so erased data cannot come back.
        public static let erased = Code(.erased)
        /// The map could not grow enough to hold the write.
        public static let mapFull = Code(.mapFull)
        /// The store was written by a newer format version than this program knows.
        public static let futureVersion = Code(.futureVersion)
        /// A record or index entry cannot be read.
        public static let corrupt = Code(.corrupt)
        /// The operating system or LMDB failed (disk full, permissions, …).
        public static let io = Code(.io)
        /// The thing asked for does not exist.
        public static let notFound = Code(.notFound)
        /// An argument the store cannot accept (e.g. a checkpoint name with a NUL byte).
        public static let invalidArgument = Code(.invalidArgument)
        /// The store is already open in this process (share that `EventLog`).
        public static let alreadyOpen = Code(.alreadyOpen)
        /// The filesystem holding the store is full: nothing of the write was stored, and a
        /// retry succeeds once space is freed.
        public static let diskFull = Code(.diskFull)
        /// The store refuses writes after a failure that left the disk's content uncertain (an
        /// I/O error at commit or sync); reopen it once the disk is checked.
        public static let writesStopped = Code(.writesStopped)
        /// An event too large to encode.
        public static let tooLarge = Code(.tooLarge)
        /// Another process writes the store (one writer per store): `Context.holder` names it.
        /// Send writes through the daemon's socket, or stop that process first; reading is not
        /// blocked (open the store read-only).
        public static let storeBusy = Code(.storeBusy)
        /// A write to a store opened read-only.
        public static let readOnly = Code(.readOnly)
        /// The store was written in an earlier format: `journeyd migrate` (`StoreMigration`)
        /// upgrades it; nothing else reads it.
        public static let oldFormat = Code(.oldFormat)

        /// The snake_case name used in protocol errors (`conflict`, `future_version`, …).
        public var description: String { raw.rawValue }
    }

    /// What went wrong, and where.
    public struct Context: Sendable, Hashable {
        /// The event id concerned.
        public var id: String?
        /// The index of the event in the batch passed to `append`.
        public var batchIndex: Int?
        /// The log position concerned.
        public var position: UInt64?
        /// The file or directory concerned.
        public var path: String?
        /// The LMDB error behind this one.
        public var lmdb: LMDBError?
        /// The process writing the store, for `.storeBusy` (its pid, program and socket).
        public var holder: StoreHolder?

        package init(id: String? = nil, batchIndex: Int? = nil, position: UInt64? = nil, path: String? = nil,
                    lmdb: LMDBError? = nil, holder: StoreHolder? = nil) {
            self.id = id
            self.batchIndex = batchIndex
            self.position = position
            self.path = path
            self.lmdb = lmdb
            self.holder = holder
        }
    }

    /// The kind of failure, for programs.
    public var code: Code
    /// What failed, in a sentence for people.
    public var message: String
    /// What the failure concerns (id, position, path, holder, …).
    public var context: Context

    package init(_ code: Code, _ message: String, context: Context = Context()) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// The code and the message (`store_busy: …`).
    public var description: String { "\(code): \(message)" }

    /// Wraps an LMDB failure of `operation`.
    static func lmdb(_ error: LMDBError, _ operation: String, path: String? = nil) -> StoreError {
        let code: Code = switch error {
        case .mapFull: .mapFull
        case .corrupted, .invalid, .versionMismatch: .corrupt
        case LMDBError(rawValue: EBUSY): .alreadyOpen
        case .notFound: .notFound
        default: .io
        }
        return StoreError(code, "\(operation): \(error)", context: Context(path: path, lmdb: error))
    }
}
