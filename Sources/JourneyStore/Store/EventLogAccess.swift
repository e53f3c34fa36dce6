import JourneyProtocol

extension EventLog {
    /// How a process opens a store: one writer per store, any number of readers (SPEC §4).
    public enum Access: Sendable, Hashable {
        /// Opens for reading and writing: takes the store's writer lock (`DIR/writer.lock`) for
        /// the life of the `EventLog`, or fails with `.storeBusy` naming the process holding it.
        case readWrite
        /// Opens for reading only, never blocked by a writer, even one in another process: takes
        /// no lock, opens LMDB read-only (`MDB_RDONLY`) and writes nothing; every write (append,
        /// checkpoint, audit) throws `.readOnly`. The store must exist. (Within the process
        /// that writes the store, share its `EventLog`: LMDB opens an environment once per process.)
        case readOnly
    }

    /// The record of the process writing the store in `directory`, as it wrote it in the lock
    /// file: its pid, program, and the socket it serves the store on, if any. Nil when no
    /// writer has the store open; after a writer died without letting go (`kill -9`), its stale
    /// record, which the next writer replaces.
    public static func writer(of directory: String) -> StoreHolder? {
        StoreLock.record(in: directory)
    }

    /// Records in the store's lock file the socket this process serves the store on (nil: none
    /// any more), where the command line and other clients look for it.
    ///
    /// - Throws: `StoreError` `.readOnly` for a store opened read-only, `.io` when the record
    ///   cannot be written.
    package func announce(socket: String?) throws(StoreError) {
        guard let writerLock else { throw readOnlyError("record a socket") }
        try writerLock.announce(socket: socket)
    }

    /// The error of a write to a store opened read-only.
    func readOnlyError(_ what: String) -> StoreError {
        StoreError(
            .readOnly,
            "cannot \(what): the store in \(directory) is open read-only; open it for writing (one process at a time), or send writes through the daemon serving it",
            context: .init(path: directory))
    }
}
