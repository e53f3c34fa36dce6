import Glibc
import JourneyCore

/// The index entries of a large write, gathered and put in key order at its end.
extension EventLog {
    /// Entries of the `subjects` index gathered during a write and put at its end in key
    /// order, so that a large write visits each leaf of the index once, in order, rather than
    /// at random.
    struct SubjectEntries {
        private typealias Entry = (prefix: KeyPrefix, start: Int, count: Int, position: UInt64)
        private var bytes: [UInt8] = []
        private var entries: [Entry] = []
        /// The current batch's first entry, and each of its records' entry (-1: none).
        private var batchStart = 0
        private var batchEntries: [Int32] = []

        mutating func beginBatch(_ count: Int) {
            batchStart = entries.count
            batchEntries = Array(repeating: -1, count: count)
        }

        /// Adds the entry of the current batch's record `record`.
        mutating func add(_ subject: UnsafeRawBufferPointer, _ position: UInt64, record: Int) {
            batchEntries[record] = Int32(entries.count)
            entries.append((KeyPrefix(subject), bytes.count, subject.count, position))
            bytes.append(contentsOf: subject)
        }

        /// Puts the current batch's entries in its subject `order` (see `EncodedBatch.sortKeys`),
        /// a sorted run that the final sort merges.
        mutating func endBatch(order: [Int32]) {
            guard order.count == batchEntries.count, entries.count > batchStart + 1 else { return }
            var run: [Entry] = []
            run.reserveCapacity(entries.count - batchStart)
            for r in order {
                let e = batchEntries[Int(r)]
                if e >= 0 { run.append(entries[Int(e)]) }
            }
            entries.replaceSubrange(batchStart..., with: run)
        }

        /// Puts every entry, by subject (LMDB's byte order) then position.
        func put(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase) throws {
            guard !entries.isEmpty else { return }
            try bytes.withUnsafeBytes { all in
                func key(_ e: Entry) -> UnsafeRawBufferPointer {
                    UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count])
                }
                let sorted = entries.sorted { a, b in
                    let c = compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
                    return c != 0 ? c < 0 : a.position < b.position
                }
                // One cursor: each key is searched from the leaf of the one before.
                try txn.withCursor(db) { c in
                    for e in sorted {
                        try withUnsafeBytes(of: e.position.bigEndian) { value in
                            try c.put(key: key(e), value: value, flags: .noDupData)
                        }
                    }
                }
            }
        }
    }

    /// The index entries of a multi-batch write, put at its end in key order, so that a large
    /// write visits each leaf of an index once, in order, rather than at random.
    struct Deferred {
        var ids: IdLookups
        var subjects = SubjectEntries()
        /// The global index (over the write's batches) of the first record of the current batch.
        var base = 0
    }

    /// The `ids` entries of a multi-batch write: every id looked up in key order before the
    /// write, new ones put in key order after it. Outcomes are those of claiming each id in
    /// record order.
    struct IdLookups {
        enum Stored { case absent, position(UInt64), malformed }
        private typealias Entry = (prefix: KeyPrefix, start: Int, count: Int, record: Int)
        private var bytes: [UInt8] = []
        /// By id, then record.
        private var sorted: [Entry] = []
        /// Per record (global index): what the store held for its id before the write.
        private(set) var stored: [Stored]
        /// Per record: the first record of the write with the same id, when not itself.
        private(set) var earlier: [Int?]
        /// Per record: the position it was appended at.
        var assigned: [UInt64?]

        init(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase, _ batches: [EncodedBatch]) throws {
            var entries: [Entry] = []
            var bytes: [UInt8] = []
            var record = 0
            for batch in batches {
                // In id order when the batch knows it: sorted runs, which the sort below merges.
                let ordered = batch.idOrder.count == batch.count && batch.idSpans.count == batch.count
                batch.bytes.withUnsafeBytes { all in
                    for k in 0..<batch.count {
                        let i = ordered ? Int(batch.idOrder[k]) : k
                        let id: UnsafeRawBufferPointer
                        if ordered {
                            // Found by `sortKeys` in a record it validated.
                            let start = Int(batch.idSpans[k] >> 16)
                            id = UnsafeRawBufferPointer(rebasing: all[start..<start + Int(batch.idSpans[k] & 0xFFFF)])
                        } else {
                            // A malformed record gets an empty id here; the append refuses it in order.
                            let view = try? EventView(validating: UnsafeRawBufferPointer(rebasing: all[batch.recordRange(i)]))
                            id = view?.id ?? UnsafeRawBufferPointer(start: nil, count: 0)
                        }
                        entries.append((KeyPrefix(id), bytes.count, id.count, record + i))
                        bytes.append(contentsOf: id)
                    }
                }
                record += batch.count
            }
            var stored = [Stored](repeating: .absent, count: record)
            var earlier = [Int?](repeating: nil, count: record)
            let sorted = bytes.withUnsafeBytes { all in
                entries.sorted { a, b in
                    let c = IdLookups.compare(all, a, b)
                    return c != 0 ? c < 0 : a.record < b.record
                }
            }
            // One cursor: each key is searched from the leaf of the one before.
            try bytes.withUnsafeBytes { all in try txn.withCursor(db) { c in
                var first: Entry? = nil
                var firstStored = Stored.absent
                for e in sorted {
                    if let f = first, IdLookups.compare(all, f, e) == 0 {
                        earlier[e.record] = f.record
                        stored[e.record] = firstStored
                        continue
                    }
                    first = e
                    // Empty or over-long ids are refused when claimed, in record order.
                    let key = UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count])
                    firstStored = .absent
                    if e.count >= 1, e.count <= 511 {
                        firstStored = try c.get(.set, key: key) { _, v in
                            EventLog.position(from: v).map { Stored.position($0) } ?? .malformed
                        } ?? .absent
                    }
                    stored[e.record] = firstStored
                }
            } }
            self.bytes = bytes
            self.sorted = sorted
            self.stored = stored
            self.earlier = earlier
            assigned = Array(repeating: nil, count: record)
        }

        private static func compare(_ all: UnsafeRawBufferPointer, _ a: Entry, _ b: Entry) -> Int32 {
            compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
        }

        /// Puts the id of every record appended, in key order.
        func putNew(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase) throws {
            // One cursor: each key is searched from the leaf of the one before.
            try bytes.withUnsafeBytes { all in
                try txn.withCursor(db) { c in
                    for e in sorted {
                        guard let p = assigned[e.record] else { continue }
                        try withUnsafeBytes(of: p.bigEndian) { value in
                            try c.put(key: UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count]),
                                      value: value, flags: .noOverwrite)
                        }
                    }
                }
            }
        }
    }
}
