import Glibc

/// A structural check of an LMDB data file (`data.mdb`), made before LMDB is let near its
/// B-trees: LMDB trusts every page it maps, so a damaged page header, node offset, size or page
/// number makes it (or a reader of the memory it lends) read outside the map and die by SIGSEGV
/// or SIGBUS. This check reads the file with `pread` into its own buffer and bounds-checks every
/// offset before using it, so it cannot fault, whatever the file holds.
///
/// It checks, for the snapshot of one meta page (the newest, or the one of a given transaction):
/// - both meta pages: magic, version, page size; the file holds every page up to the last one;
/// - every page of every tree (the free list, the main database, each named database and each
///   sub-tree of duplicates) is inside the file, reached once, carries its own number, and has
///   the kind its depth calls for (branch above, leaf at the bottom);
/// - in each page: `lower`/`upper` bounds, every node offset, key size and data size inside the
///   page; fixed-size keys (`LEAF2`) inside the page; embedded sub-pages of duplicates inside
///   their node;
/// - every large value's overflow pages: inside the file, marked overflow, numbered, long
///   enough for the value, shared with no other page;
/// - free-list entries: well-formed page lists naming pages inside the file, none of them in use;
/// - entry counts of databases without duplicates equal their trees'.
///
/// What it does not check: the order of keys (a misordered tree answers wrongly but safely;
/// `EventLog.verify` finds the disagreements), and the content of values (the records'
/// checksums do).
package enum LMDBPageCheck {
    /// Damage found, with the page concerned when there is one.
    package struct Damage: Error, Sendable, Hashable, CustomStringConvertible {
        /// The page number concerned, if any.
        package var page: UInt64?
        /// What is wrong.
        package var message: String
        /// True when nothing is damaged but the snapshot asked for is no longer described by a
        /// meta page (a writer committed twice meanwhile): check a newer snapshot instead.
        package var snapshotMoved = false

        /// The damage in one line, with its page.
        package var description: String {
            page.map { "page \($0): \(message)" } ?? message
        }
    }

    /// What a check walked.
    package struct Summary: Sendable, Hashable {
        /// Pages walked (tree, overflow and meta pages).
        package var pages: Int
        /// The page size read from the meta page.
        package var pageSize: Int
        /// The transaction id of the snapshot checked.
        package var transaction: UInt64
    }

    // LMDB's on-disk layout (lmdb.h / mdb.c, 64-bit builds).
    static let headerSize = 16
    static let nodeHeaderSize = 8
    static let databaseRecordSize = 48
    static let metaMagic: UInt32 = 0xBEEF_C0DE
    static let metaVersion: UInt32 = 1
    static let invalidPage = UInt64.max
    // Page flags.
    static let pBranch: UInt16 = 0x01, pLeaf: UInt16 = 0x02, pOverflow: UInt16 = 0x04, pMeta: UInt16 = 0x08
    static let pLeaf2: UInt16 = 0x20, pSubpage: UInt16 = 0x40
    // Node flags.
    static let fBigData: UInt16 = 0x01, fSubData: UInt16 = 0x02, fDupData: UInt16 = 0x04
    // Database flags.
    static let dupSort: UInt16 = 0x04

    /// One database's record (`MDB_db`).
    struct DatabaseRecord {
        var keySize: UInt32
        var flags: UInt16
        var depth: UInt16
        var entries: UInt64
        var root: UInt64

        init(_ b: Bytes, at o: Int) {
            keySize = b.u32(o)
            flags = b.u16(o + 4)
            depth = b.u16(o + 6)
            entries = b.u64(o + 32)
            root = b.u64(o + 40)
        }
    }

    /// Bytes `start..<start + count` of a page, read as `Bytes` reads a page (0 outside them).
    struct SubPage {
        let page: Bytes
        let start: Int
        let count: Int
        @inline(__always)
        func u16(_ o: Int) -> UInt16 {
            guard o >= 0, o + 2 <= count else { return 0 }
            return page.u16(start + o)
        }
    }

    /// A bounds-checked little-endian reader over bytes read from the file (an out-of-range
    /// read answers 0; callers check ranges first, and a 0 fails their later checks).
    struct Bytes {
        var b: [UInt8]
        var count: Int { b.count }
        // One range check, then one unaligned load of the bytes inside it.
        @inline(__always)
        func u16(_ o: Int) -> UInt16 {
            guard o >= 0, o + 2 <= b.count else { return 0 }
            return b.withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        }
        @inline(__always)
        func u32(_ o: Int) -> UInt32 {
            guard o >= 0, o + 4 <= b.count else { return 0 }
            return b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        }
        @inline(__always)
        func u64(_ o: Int) -> UInt64 {
            guard o >= 0, o + 8 <= b.count else { return 0 }
            return b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        }
    }

    /// Checks the data file of the environment in `directory`.
    ///
    /// - Parameters:
    ///   - directory: the environment's directory (holding `data.mdb`).
    ///   - transaction: the id of the snapshot to check (a read transaction the caller holds,
    ///     so no writer reuses its pages meanwhile); nil for the newest meta page's.
    /// - Returns: what was walked.
    /// - Throws: `Damage` naming the first problem (and its page), or the file's read error.
    package static func check(directory: String, transaction: UInt64? = nil) throws(Damage) -> Summary {
        let path = directory + "/data.mdb"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Damage(page: nil, message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Damage(page: nil, message: "cannot stat \(path): \(String(cString: strerror(errno)))") }
        var walker = Walker(fd: fd, fileSize: Int(st.st_size))
        return try walker.run(transaction: transaction)
    }

    /// The state of one check.
    struct Walker {
        let fd: Int32
        let fileSize: Int
        var pageSize = 0
        var lastPage: UInt64 = 0
        /// One bit per page: reached already.
        var used: [UInt64] = []
        var pages = 0
        /// The pages the free list names.
        var freePages: [UInt64] = []

        init(fd: Int32, fileSize: Int) {
            self.fd = fd
            self.fileSize = fileSize
        }

        func damage(_ page: UInt64?, _ message: String) -> Damage { Damage(page: page, message: message) }

        /// `count` bytes at `offset` of the file.
        func read(_ offset: Int, _ count: Int) throws(Damage) -> Bytes {
            var failure: Damage?
            // Read straight into the array's storage, not zeroed first: `initializedCount`
            // covers only the bytes `pread` wrote (none when it fails, and the array is empty).
            let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initializedCount in
                var done = 0
                while done < count {
                    let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        failure = damage(nil, n == 0 ? "the file ends at \(offset + done) bytes, inside a page" : "read error: \(String(cString: strerror(errno)))")
                        break
                    }
                    done += n
                }
                initializedCount = failure == nil ? done : 0
            }
            if let failure { throw failure }
            return Bytes(b: out)
        }

        mutating func run(transaction: UInt64?) throws(Damage) -> Summary {
            let minimum = LMDBPageCheck.headerSize + 136
            guard fileSize >= minimum else { throw damage(nil, "the file is \(fileSize) bytes, too short for a meta page") }
            let first = try read(0, minimum)
            let size = Int(first.u32(LMDBPageCheck.headerSize + 24))  // the free database's md_pad
            guard size >= 512, size <= 65_536, size & (size - 1) == 0 else {
                throw damage(0, "page size \(size) is not a power of two from 512 to 65536")
            }
            pageSize = size
            guard fileSize >= 2 * size else { throw damage(nil, "the file is \(fileSize) bytes, too short for two meta pages") }
            var metas: [(txn: UInt64, free: DatabaseRecord, main: DatabaseRecord, last: UInt64)] = []
            for m in 0..<2 {
                let p = try read(m * size, size)
                let h = LMDBPageCheck.headerSize
                guard p.u16(10) & LMDBPageCheck.pMeta != 0, p.u32(h) == LMDBPageCheck.metaMagic,
                      p.u32(h + 4) == LMDBPageCheck.metaVersion else {
                    throw damage(UInt64(m), "meta page is not an LMDB meta page (flags, magic or version)")
                }
                metas.append((p.u64(h + 128), DatabaseRecord(p, at: h + 24), DatabaseRecord(p, at: h + 72), p.u64(h + 120)))
            }
            let chosen: Int
            if let transaction {
                guard let i = metas.firstIndex(where: { $0.txn == transaction }) else {
                    var moved = damage(nil, "no meta page is of transaction \(transaction)")
                    moved.snapshotMoved = metas.contains { $0.txn > transaction }
                    throw moved
                }
                chosen = i
            } else {
                chosen = metas[1].txn > metas[0].txn ? 1 : 0
            }
            let meta = metas[chosen]
            lastPage = meta.last
            let (needed, overflow) = (lastPage &+ 1).multipliedReportingOverflow(by: UInt64(size))
            guard lastPage >= 1, !overflow, needed <= UInt64(fileSize) else {
                throw damage(UInt64(chosen), "last page \(lastPage) is past the end of the file (\(fileSize / size) pages)")
            }
            used = [UInt64](repeating: 0, count: Int(lastPage + 1) / 64 + 1)
            mark(0)
            mark(1)
            pages = 2
            _ = try walk(meta.free, name: "the free list", kind: .free)
            _ = try walk(meta.main, name: "the main database", kind: .main)
            for p in freePages where isUsed(p) {
                throw damage(p, "listed as free but in use")
            }
            return Summary(pages: pages, pageSize: pageSize, transaction: meta.txn)
        }

        func isUsed(_ p: UInt64) -> Bool { used[Int(p >> 6)] & (1 << (p & 63)) != 0 }
        mutating func mark(_ p: UInt64) { used[Int(p >> 6)] |= 1 << (p & 63) }

        /// Claims page `p` for the walk: inside the file, not a meta page, not reached before.
        /// (`from` names the referrer in an error only: it is built only for one.)
        mutating func claim(_ p: UInt64, from: @autoclosure () -> String) throws(Damage) {
            guard p >= 2, p <= lastPage else { throw damage(p, "\(from()) points to page \(p), outside pages 2…\(lastPage)") }
            guard !isUsed(p) else { throw damage(p, "\(from()) reaches page \(p) a second time") }
            mark(p)
            pages += 1
        }

        enum Kind {
            /// The free list: values are page lists.
            case free
            /// The main database: its `F_SUBDATA` values are named databases.
            case main
            /// A named database (with sorted duplicates when `dupSort`).
            case named(dupSort: Bool)
            /// The sub-tree of one key's duplicates: keys only.
            case duplicates
        }

        /// Walks the tree of `db`; answers its entry count (duplicates counted one by one).
        mutating func walk(_ db: DatabaseRecord, name: String, kind: Kind) throws(Damage) -> UInt64 {
            guard db.root != LMDBPageCheck.invalidPage else {
                guard db.entries == 0 else { throw damage(nil, "\(name) has no root but \(db.entries) entries") }
                return 0
            }
            guard db.depth >= 1, db.depth <= 32 else { throw damage(db.root, "\(name) has depth \(db.depth)") }
            try claim(db.root, from: name)
            var stack: [(page: UInt64, level: Int)] = [(db.root, 0)]
            var entries: UInt64 = 0
            while let (pgno, level) = stack.popLast() {
                let page = try read(Int(pgno) * pageSize, pageSize)
                let bottom = level == Int(db.depth) - 1
                guard page.u64(0) == pgno else {
                    throw damage(pgno, "carries number \(page.u64(0)) (in \(name))")
                }
                let flags = page.u16(10)
                let lower = Int(page.u16(12)), upper = Int(page.u16(14))
                let h = LMDBPageCheck.headerSize
                guard lower >= h, lower <= upper, upper <= pageSize, (lower - h) % 2 == 0 else {
                    throw damage(pgno, "bounds lower \(lower), upper \(upper) (in \(name))")
                }
                let n = (lower - h) / 2
                if !bottom {
                    guard flags & (LMDBPageCheck.pBranch | LMDBPageCheck.pLeaf | LMDBPageCheck.pOverflow) == LMDBPageCheck.pBranch, n >= 1 else {
                        throw damage(pgno, "expected a branch page at level \(level) of \(db.depth) (flags \(flags), \(n) keys; in \(name))")
                    }
                    for i in 0..<n {
                        let node = try nodeBounds(page, pgno, i, upper, name)
                        let child = UInt64(page.u16(node)) | UInt64(page.u16(node + 2)) << 16 | UInt64(page.u16(node + 4)) << 32
                        try claim(child, from: "page \(pgno) of \(name)")
                        stack.append((child, level + 1))
                    }
                    continue
                }
                if case .duplicates = kind, flags & LMDBPageCheck.pLeaf2 != 0 {
                    guard flags & LMDBPageCheck.pLeaf != 0 else { throw damage(pgno, "LEAF2 page without the leaf flag (in \(name))") }
                    let ks = Int(page.u16(8))
                    guard ks >= 1, h + n * ks <= pageSize else { throw damage(pgno, "\(n) fixed keys of \(ks) bytes overflow the page (in \(name))") }
                    entries += UInt64(n)
                    continue
                }
                guard flags & (LMDBPageCheck.pBranch | LMDBPageCheck.pLeaf | LMDBPageCheck.pOverflow | LMDBPageCheck.pLeaf2) == LMDBPageCheck.pLeaf else {
                    throw damage(pgno, "expected a leaf page at level \(level) of \(db.depth) (flags \(flags); in \(name))")
                }
                for i in 0..<n {
                    let node = try nodeBounds(page, pgno, i, upper, name)
                    let size = Int(page.u16(node)) | Int(page.u16(node + 2)) << 16
                    let nodeFlags = page.u16(node + 4)
                    let dataStart = node + LMDBPageCheck.nodeHeaderSize + Int(page.u16(node + 6))
                    if nodeFlags & LMDBPageCheck.fBigData != 0 {
                        guard dataStart + 8 <= pageSize else { throw damage(pgno, "node \(i)'s overflow page number is outside the page (in \(name))") }
                        try overflow(page.u64(dataStart), size: size, from: "node \(i) of page \(pgno) in \(name)")
                        entries += 1
                        continue
                    }
                    guard dataStart + size <= pageSize else {
                        throw damage(pgno, "node \(i)'s value of \(size) bytes runs past the page (in \(name))")
                    }
                    switch kind {
                    case .free:
                        let count = Int(page.u64(dataStart))
                        guard size >= 8, count >= 0, count <= (size - 8) / 8 else {
                            throw damage(pgno, "free-list entry \(i) lists \(count) pages in \(size) bytes")
                        }
                        for k in 0..<count {
                            let free = page.u64(dataStart + 8 + 8 * k)
                            guard free >= 2, free <= lastPage else { throw damage(pgno, "free-list entry \(i) names page \(free), outside the file") }
                            freePages.append(free)
                        }
                        entries += 1
                    case .main:
                        if nodeFlags & LMDBPageCheck.fSubData != 0 {
                            guard size == LMDBPageCheck.databaseRecordSize else { throw damage(pgno, "named database record of \(size) bytes (in \(name))") }
                            let keyBytes = page.b[(node + LMDBPageCheck.nodeHeaderSize)..<dataStart]
                            let sub = DatabaseRecord(page, at: dataStart)
                            let subName = "database \"\(String(decoding: keyBytes, as: UTF8.self))\""
                            let counted = try walk(sub, name: subName, kind: .named(dupSort: sub.flags & LMDBPageCheck.dupSort != 0))
                            if sub.flags & LMDBPageCheck.dupSort == 0 && counted != sub.entries {
                                throw damage(sub.root, "\(subName) records \(sub.entries) entries, its tree holds \(counted)")
                            }
                        }
                        entries += 1
                    case .named(let dupSort):
                        if nodeFlags & LMDBPageCheck.fDupData != 0 {
                            guard dupSort else { throw damage(pgno, "node \(i) has duplicates in a database without them (in \(name))") }
                            entries += try duplicates(page, pgno, i, at: dataStart, size: size, flags: nodeFlags, name)
                        } else {
                            entries += 1
                        }
                    case .duplicates:
                        entries += 1
                    }
                }
            }
            return entries
        }

        /// The offset of node `i` of `page`, once its header and key are inside the page.
        func nodeBounds(_ page: Bytes, _ pgno: UInt64, _ i: Int, _ upper: Int, _ name: String) throws(Damage) -> Int {
            let node = Int(page.u16(LMDBPageCheck.headerSize + 2 * i))
            guard node >= upper, node + LMDBPageCheck.nodeHeaderSize <= pageSize else {
                throw damage(pgno, "node \(i) at offset \(node) is outside \(upper)…\(pageSize) (in \(name))")
            }
            guard node + LMDBPageCheck.nodeHeaderSize + Int(page.u16(node + 6)) <= pageSize else {
                throw damage(pgno, "node \(i)'s key of \(page.u16(node + 6)) bytes runs past the page (in \(name))")
            }
            return node
        }

        /// Checks the overflow pages of a value of `size` bytes starting at page `first`.
        mutating func overflow(_ first: UInt64, size: Int, from: @autoclosure () -> String) throws(Damage) {
            try claim(first, from: from())
            let header = try read(Int(first) * pageSize, LMDBPageCheck.headerSize)
            guard header.u64(0) == first, header.u16(10) & LMDBPageCheck.pOverflow != 0 else {
                throw damage(first, "expected the overflow page of \(from()) (number \(header.u64(0)), flags \(header.u16(10)))")
            }
            let count = UInt64(header.u32(12))
            guard count >= 1, first + count - 1 <= lastPage,
                  size <= Int(count) * pageSize - LMDBPageCheck.headerSize else {
                throw damage(first, "\(count) overflow pages cannot hold the \(size) bytes of \(from()) inside the file")
            }
            for p in (first + 1)..<(first + count) {
                guard !isUsed(p) else { throw damage(p, "overflow pages of \(from()) overlap page \(p)") }
                mark(p)
                pages += 1
            }
        }

        /// Checks the duplicates of node `i` (a sub-page inside it, or a sub-tree); answers
        /// their count.
        mutating func duplicates(_ page: Bytes, _ pgno: UInt64, _ i: Int, at start: Int, size: Int, flags: UInt16,
                                 _ name: String) throws(Damage) -> UInt64 {
            if flags & LMDBPageCheck.fSubData != 0 {
                guard size == LMDBPageCheck.databaseRecordSize else { throw damage(pgno, "node \(i)'s duplicate tree record is \(size) bytes (in \(name))") }
                let sub = DatabaseRecord(page, at: start)
                let counted = try walk(sub, name: "the duplicates of node \(i) of page \(pgno) in \(name)", kind: .duplicates)
                guard counted == sub.entries else {
                    throw damage(sub.root, "a duplicate tree of \(name) records \(sub.entries) entries, holds \(counted)")
                }
                return counted
            }
            // A sub-page: a page header and its nodes, inside the node's value.
            let h = LMDBPageCheck.headerSize
            guard size >= h else { throw damage(pgno, "node \(i)'s duplicate sub-page is \(size) bytes (in \(name))") }
            // The sub-page's bytes are `page`'s `start..<start + size` (inside the page, checked
            // by the caller): read in place, as if they were their own page of `size` bytes.
            let sub = SubPage(page: page, start: start, count: size)
            let subFlags = sub.u16(10)
            let lower = Int(sub.u16(12)), upper = Int(sub.u16(14))
            guard subFlags & LMDBPageCheck.pLeaf != 0, subFlags & LMDBPageCheck.pSubpage != 0,
                  lower >= h, lower <= upper, upper <= size, (lower - h) % 2 == 0 else {
                throw damage(pgno, "node \(i)'s duplicate sub-page has flags \(subFlags), bounds \(lower)…\(upper) of \(size) (in \(name))")
            }
            let n = (lower - h) / 2
            if subFlags & LMDBPageCheck.pLeaf2 != 0 {
                let ks = Int(sub.u16(8))
                guard ks >= 1, h + n * ks <= size else { throw damage(pgno, "node \(i)'s \(n) fixed duplicates of \(ks) bytes overflow their sub-page (in \(name))") }
                return UInt64(n)
            }
            for k in 0..<n {
                let node = Int(sub.u16(h + 2 * k))
                guard node >= upper, node + LMDBPageCheck.nodeHeaderSize <= size,
                      node + LMDBPageCheck.nodeHeaderSize + Int(sub.u16(node + 6)) + (Int(sub.u16(node)) | Int(sub.u16(node + 2)) << 16) <= size else {
                    throw damage(pgno, "duplicate \(k) of node \(i) runs outside its sub-page (in \(name))")
                }
            }
            return UInt64(n)
        }
    }
}
