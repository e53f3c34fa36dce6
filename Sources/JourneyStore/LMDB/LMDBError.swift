import CLMDB
import Glibc

/// An error code returned by LMDB: one of its own `MDB_*` codes or a system `errno`.
public struct LMDBError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The raw return code of the failing `mdb_*` call.
    public let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// The code's C name (`MDB_MAP_FULL`, `ENOSPC`, …), or its number when unknown.
    public var name: String {
        switch rawValue {
        case MDB_KEYEXIST: "MDB_KEYEXIST"
        case MDB_NOTFOUND: "MDB_NOTFOUND"
        case MDB_PAGE_NOTFOUND: "MDB_PAGE_NOTFOUND"
        case MDB_CORRUPTED: "MDB_CORRUPTED"
        case MDB_PANIC: "MDB_PANIC"
        case MDB_VERSION_MISMATCH: "MDB_VERSION_MISMATCH"
        case MDB_INVALID: "MDB_INVALID"
        case MDB_MAP_FULL: "MDB_MAP_FULL"
        case MDB_DBS_FULL: "MDB_DBS_FULL"
        case MDB_READERS_FULL: "MDB_READERS_FULL"
        case MDB_TLS_FULL: "MDB_TLS_FULL"
        case MDB_TXN_FULL: "MDB_TXN_FULL"
        case MDB_CURSOR_FULL: "MDB_CURSOR_FULL"
        case MDB_PAGE_FULL: "MDB_PAGE_FULL"
        case MDB_MAP_RESIZED: "MDB_MAP_RESIZED"
        case MDB_INCOMPATIBLE: "MDB_INCOMPATIBLE"
        case MDB_BAD_RSLOT: "MDB_BAD_RSLOT"
        case MDB_BAD_TXN: "MDB_BAD_TXN"
        case MDB_BAD_VALSIZE: "MDB_BAD_VALSIZE"
        case MDB_BAD_DBI: "MDB_BAD_DBI"
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case ENOTDIR: "ENOTDIR"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case EROFS: "EROFS"
        case EAGAIN: "EAGAIN"
        case EDEADLK: "EDEADLK"
        default: "\(rawValue)"
        }
    }

    /// LMDB's own explanation of the code.
    public var message: String { String(cString: mdb_strerror(rawValue)) }

    /// The name and LMDB's message.
    public var description: String { "\(name): \(message)" }

    package static let keyExists = LMDBError(rawValue: MDB_KEYEXIST)
    package static let notFound = LMDBError(rawValue: MDB_NOTFOUND)
    package static let corrupted = LMDBError(rawValue: MDB_CORRUPTED)
    package static let panic = LMDBError(rawValue: MDB_PANIC)
    package static let mapFull = LMDBError(rawValue: MDB_MAP_FULL)
    package static let mapResized = LMDBError(rawValue: MDB_MAP_RESIZED)
    package static let readersFull = LMDBError(rawValue: MDB_READERS_FULL)
    package static let txnFull = LMDBError(rawValue: MDB_TXN_FULL)
    package static let badValueSize = LMDBError(rawValue: MDB_BAD_VALSIZE)
    package static let invalid = LMDBError(rawValue: MDB_INVALID)
    package static let versionMismatch = LMDBError(rawValue: MDB_VERSION_MISMATCH)
}

/// Throws the `LMDBError` for a non-zero return code.
@inline(__always)
func lmdbCheck(_ rc: Int32) throws(LMDBError) {
    if rc != 0 { throw LMDBError(rawValue: rc) }
}
