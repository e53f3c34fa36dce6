import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// The read audit of a store: an append-only file, `DIR/audit.log` (mode 0600), of `AuditEntry`
/// records, each durable (fsynced) before the answer it records is given.
///
/// A file beside the LMDB store rather than a database inside it, so that every process that
/// reads the store can record its reads (the daemon, a command line reading beside it, an
/// embedding service), none of them needing the store's one writer lock. Appends are `O_APPEND`
/// writes of whole frames; concurrent readers of one process share an fsync (group commit: one
/// caller writes and syncs every record queued meanwhile).
///
/// A frame is `JAu1` (4 bytes), the payload's length (u32 LE), its CRC-32 (u32 LE), the payload
/// (`AuditEntry.encoded`). A frame cut short by a failed write, or damaged, is skipped when read:
/// the reader looks for the next `JAu1` whose length and checksum hold.
///
/// When a record cannot be made durable (full disk, I/O error, no permission), `record` throws
/// `AuditUnavailable` and the caller must not give the answer: reads fail closed.
public final class AuditLog: Sendable {
    /// The file's path.
    public let path: String
    /// The open file; replaced when the path names another file (see `rewrite`).
    private let fd: Mutex<Int32>
    /// Why the file could not be opened, when it could not (every record then fails).
    private let openFailure: String?
    private let state = Mutex(State())
    private let counters = Mutex(Counters())

    private struct State {
        var pending: [(frame: [UInt8], waiter: Waiter)] = []
        var writing = false
    }

    private struct Counters {
        var written = 0
        var failed = 0
        var lastFailure: String?
    }

    /// One caller waiting for its record to be durable.
    private final class Waiter: Sendable {
        let done = Semaphore()
        let failure = Mutex<String?>(nil)
    }

    /// The audit file's name in a store directory.
    public static let fileName = "audit.log"

    /// Opens (creating, mode 0600) the audit file of the store in `directory`. Never throws: a
    /// file that cannot be opened makes every `record` fail with `AuditUnavailable`.
    public init(directory: String) {
        path = directory + "/" + Self.fileName
        let existed = access(path, F_OK) == 0
        let opened = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if opened < 0 {
            openFailure = "cannot open \(path): \(String(cString: strerror(errno)))"
            fd = Mutex(-1)
            return
        }
        fd = Mutex(opened)
        openFailure = nil
        // A file another tool created with a wider mode is narrowed (owner only).
        var st = stat()
        if fstat(opened, &st) == 0, st.st_mode & 0o077 != 0, st.st_uid == geteuid() { fchmod(opened, 0o600) }
        if !existed {
            // The new file's name must be durable too, before any record counts as written.
            let dirFd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirFd >= 0 {
                fsync(dirFd)
                Glibc.close(dirFd)
            }
        }
    }

    deinit {
        fd.withLock { if $0 >= 0 { Glibc.close($0) } }
    }

    /// The file to append to: the one open, unless `path` now names another file (an erasure
    /// rewrote it, see `rewrite`), which is then opened instead.
    private func currentFile() -> Int32 {
        fd.withLock { fd in
            guard fd >= 0 else { return fd }
            var open = stat(), named = stat()
            let gone = stat(path, &named) != 0
            guard fstat(fd, &open) == 0, gone || open.st_ino != named.st_ino || open.st_dev != named.st_dev else { return fd }
            let reopened = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard reopened >= 0 else { return fd }
            Glibc.close(fd)
            fd = reopened
            return fd
        }
    }

    /// Records `entry` durably; returns once it is on disk.
    ///
    /// - Throws: `AuditUnavailable` when it could not be written and synced: the read it
    ///   records must then be refused.
    public func record(_ entry: AuditEntry) throws(AuditUnavailable) {
        let waiter = Waiter()
        let frame = Self.frame(entry.encoded)
        let lead = state.withLock { s -> Bool in
            s.pending.append((frame, waiter))
            if s.writing { return false }
            s.writing = true
            return true
        }
        if lead { writeQueued() }
        waiter.done.wait()
        if let failure = waiter.failure.withLock({ $0 }) { throw AuditUnavailable(failure) }
    }

    /// Records written and records refused by this process since it opened the file, and the
    /// latest refusal's reason.
    public var counts: (written: Int, failed: Int, lastFailure: String?) {
        counters.withLock { ($0.written, $0.failed, $0.lastFailure) }
    }

    /// Writes and syncs everything queued, batch after batch, until the queue is empty.
    private func writeQueued() {
        while true {
            let batch = state.withLock { s -> [(frame: [UInt8], waiter: Waiter)]? in
                if s.pending.isEmpty {
                    s.writing = false
                    return nil
                }
                defer { s.pending = [] }
                return s.pending
            }
            guard let batch else { return }
            let failure = writeAndSync(batch.flatMap(\.frame))
            counters.withLock { c in
                if let failure {
                    c.failed += batch.count
                    c.lastFailure = failure
                } else {
                    c.written += batch.count
                }
            }
            for item in batch {
                item.waiter.failure.withLock { $0 = failure }
                item.waiter.done.signal()
            }
        }
    }

    /// Appends `bytes` in as few writes as the kernel takes and syncs; the failure's reason, or nil.
    private func writeAndSync(_ bytes: [UInt8]) -> String? {
        if let openFailure { return openFailure }
        let fd = currentFile()
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + done, raw.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                return "writing \(path): \(String(cString: strerror(errno)))"
            }
            if n == 0 { return "writing \(path): nothing written" }
            done += n
        }
        while fdatasync(fd) != 0 {
            if errno != EINTR { return "syncing \(path): \(String(cString: strerror(errno)))" }
        }
        return nil
    }

    // MARK: - Frames

    private static let magic: [UInt8] = Array("JAu1".utf8)
    private static let headerBytes = 12

    /// `payload` framed for the file.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        var b = magic
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { b.append(contentsOf: $0) }
        b.append(contentsOf: payload)
        return b
    }

    /// The records in `bytes` (a whole audit file or a part of one starting at a frame), oldest
    /// first, each with its byte offset, and how many bytes were skipped as damaged.
    public static func entries(in bytes: UnsafeRawBufferPointer) -> (entries: [(offset: Int, entry: AuditEntry)], skipped: Int) {
        var out: [(offset: Int, entry: AuditEntry)] = []
        var skipped = 0
        var i = 0
        while i < bytes.count {
            if let (entry, length) = frame(in: bytes, at: i) {
                out.append((i, entry))
                i += length
            } else {
                skipped += 1
                i += 1
            }
        }
        return (out, skipped)
    }

    /// The record framed at `offset`, and the frame's length; nil if there is none there.
    private static func frame(in bytes: UnsafeRawBufferPointer, at offset: Int) -> (AuditEntry, Int)? {
        guard bytes.count - offset >= headerBytes,
              bytes[offset] == magic[0], bytes[offset + 1] == magic[1], bytes[offset + 2] == magic[2],
              bytes[offset + 3] == magic[3]
        else { return nil }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        let length = Int(u32(offset + 4))
        guard length <= AuditEntry.maxEncodedBytes, length <= bytes.count - offset - headerBytes else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[offset + headerBytes..<offset + headerBytes + length])
        guard CRC32.checksum(payload) == u32(offset + 8), let entry = AuditEntry(decoding: payload) else { return nil }
        return (entry, headerBytes + length)
    }

    /// Reads the audit file of the store in `directory` from byte `offset` on (0: the start).
    /// A store without one has no records.
    ///
    /// - Throws: `AuditUnavailable` when the file exists and cannot be read.
    public static func read(directory: String, from offset: Int = 0)
        throws(AuditUnavailable) -> (entries: [(offset: Int, entry: AuditEntry)], skipped: Int)
    {
        let path = directory + "/" + fileName
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return ([], 0) }
            throw AuditUnavailable("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var position = off_t(max(0, offset))
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, position) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditUnavailable("reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            position += off_t(n)
        }
        let base = max(0, offset)
        let found = bytes.withUnsafeBytes { entries(in: $0) }
        return (found.entries.map { (base + $0.offset, $0.entry) }, found.skipped)
    }
}

extension AuditLog {
    /// Rewrites the audit file of the store in `directory` so that it names none of `ids` (the
    /// ids of an erased cluster): each record's `ids`, the string values of its `parameters`
    /// equal to one of them, and their occurrences in its `reason` become `pseudonym`, so
    /// `journeyd audit --patient <pseudonym>` still answers who saw that journey. Bytes that
    /// are no whole record (a write cut short) are left out: they might hold an id.
    ///
    /// The new file is written beside the old one (mode 0600), synced and renamed over it; the
    /// directory is synced. Records other processes append to the old file meanwhile are
    /// carried over after the rename; an `AuditLog` open in any process notices the new file at
    /// its next write.
    ///
    /// - Returns: how many records named one of `ids`.
    /// - Throws: `AuditUnavailable` when the file cannot be read or rewritten (it is then unchanged).
    @discardableResult
    public static func rewrite(directory: String, replacing ids: Set<String>, with pseudonym: String) throws(AuditUnavailable) -> Int {
        let path = directory + "/" + fileName
        let temporary = path + ".rewrite"
        func failure(_ what: String) -> AuditUnavailable { AuditUnavailable("\(what) \(path): \(String(cString: strerror(errno)))") }
        let old = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if old < 0 {
            if errno == ENOENT { return 0 }
            throw failure("cannot open")
        }
        defer { Glibc.close(old) }
        var changed = 0
        var (bytes, end) = try readAll(old, from: 0, path)
        var out = rewritten(bytes, ids, pseudonym, &changed)
        _ = unlink(temporary)
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create a new") }
        defer { Glibc.close(fd) }
        guard writeAll(fd, out), fsync(fd) == 0 else {
            _ = unlink(temporary)
            throw failure("cannot write a new")
        }
        guard rename(temporary, path) == 0 else {
            _ = unlink(temporary)
            throw failure("cannot replace")
        }
        // Records appended to the old file before its writers noticed the new one.
        (bytes, end) = try readAll(old, from: end, path)
        if !bytes.isEmpty {
            out = rewritten(bytes, ids, pseudonym, &changed)
            guard writeAll(fd, out), fsync(fd) == 0 else { throw failure("cannot write") }
        }
        let dir = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            Glibc.close(dir)
        }
        return changed
    }

    /// The records framed in `bytes`, each rewritten (see `rewrite`), framed again.
    private static func rewritten(_ bytes: [UInt8], _ ids: Set<String>, _ pseudonym: String, _ changed: inout Int) -> [UInt8] {
        let quoted = ids.map { id -> (String, String) in
            var w = JSONWriter()
            w.string(id)
            return (w.string, id)
        }
        var p = JSONWriter()
        p.string(pseudonym)
        let quotedPseudonym = p.string
        var out: [UInt8] = []
        for (_, entry) in bytes.withUnsafeBytes({ entries(in: $0) }).entries {
            var e = entry
            e.ids = e.ids.map { ids.contains($0) ? pseudonym : $0 }
            for (q, id) in quoted {
                e.parameters = e.parameters.replacing(q, with: quotedPseudonym)
                if let r = e.reason, !id.isEmpty { e.reason = r.replacing(id, with: pseudonym) }
            }
            if e != entry { changed += 1 }
            out += frame(e.encoded)
        }
        return out
    }

    /// The bytes of `fd` from `offset` to its end, and the offset of that end.
    private static func readAll(_ fd: Int32, from offset: Int, _ path: String) throws(AuditUnavailable) -> ([UInt8], Int) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var position = offset
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditUnavailable("reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return (bytes, position) }
            bytes.append(contentsOf: chunk[..<n])
            position += n
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

/// A read refused because its audit record could not be made durable (`audit_unavailable`).
public struct AuditUnavailable: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed (the file, the system error).
    public var message: String

    /// An error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    /// `the read audit cannot be written (…); the answer was not given`.
    public var description: String { "the read audit cannot be written (\(message)); the answer was not given" }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib computes it.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
