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

        /// Adds the entries of `batch`, whose keys `sortKeys` sorted, in its subject order: one
        /// for each record appended, at its position in `assigned` (from global index `base` on).
        mutating func addSorted(_ batch: EncodedBatch, assigned: [UInt64?], base: Int) {
            let start = bytes.count
            bytes.append(contentsOf: batch.subjectBytes)
            for k in batch.subjectKeys {
                guard let p = assigned[base + Int(k.record)] else { continue }
                entries.append((k.prefix, start + Int(k.start), Int(k.count), p))
            }
        }

        /// Adds the entry of a record appended at `position` (of a batch without sorted keys).
        mutating func add(_ subject: UnsafeRawBufferPointer, _ position: UInt64) {
            entries.append((KeyPrefix(subject), bytes.count, subject.count, position))
            bytes.append(contentsOf: subject)
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

    /// The `ids` entries of a multi-batch write, claimed in key order before the write in one
    /// pass over the index: each new id is put with the position it gets when every id of the
    /// write is new to the store, and an id the store holds answers its position instead (as a
    /// lookup would). When the store held some, the positions after the first of them move
    /// down, and the ids put with a moved position are put again with it. Outcomes are those of
    /// claiming each id in record order.
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
        /// Per record: the position `claim` put in the index for its id, 0 for none (a record
        /// whose id the store or an earlier record holds, or whose id is empty or too long).
        private(set) var positions: [UInt64]
        /// Per record: the position it was appended at.
        var assigned: [UInt64?]

        /// Gathers and sorts the ids of `batches`; reads nothing of the store, so it can run
        /// before the write's transaction begins.
        init(_ batches: [EncodedBatch]) {
            var entries: [Entry] = []
            var bytes: [UInt8] = []
            var record = 0
            for batch in batches {
                // In id order when the batch knows it (`sortKeys`, on the thread that encoded
                // it): sorted runs, which the sort below merges.
                if batch.idOrder.count == batch.count && batch.idKeys.count == batch.count {
                    let base = bytes.count
                    bytes.append(contentsOf: batch.idBytes)
                    for k in batch.idKeys {
                        entries.append((k.prefix, base + Int(k.start), Int(k.count), record + Int(k.record)))
                    }
                    record += batch.count
                    continue
                }
                batch.bytes.withUnsafeBytes { all in
                    for i in 0..<batch.count {
                        // A malformed record gets an empty id here; the append refuses it in order.
                        let view = try? EventView(validating: UnsafeRawBufferPointer(rebasing: all[batch.recordRange(i)]))
                        let id = view?.id ?? UnsafeRawBufferPointer(start: nil, count: 0)
                        entries.append((KeyPrefix(id), bytes.count, id.count, record + i))
                        bytes.append(contentsOf: id)
                    }
                }
                record += batch.count
            }
            var earlier = [Int?](repeating: nil, count: record)
            let sorted = bytes.withUnsafeBytes { all in
                entries.sorted { a, b in
                    let c = IdLookups.compare(all, a, b)
                    return c != 0 ? c < 0 : a.record < b.record
                }
            }
            bytes.withUnsafeBytes { all in
                var first: Entry? = nil
                for e in sorted {
                    if let f = first, IdLookups.compare(all, f, e) == 0 {
                        earlier[e.record] = f.record
                    } else {
                        first = e
                    }
                }
            }
            self.bytes = bytes
            self.sorted = sorted
            self.earlier = earlier
            stored = [Stored](repeating: .absent, count: record)
            positions = [UInt64](repeating: 0, count: record)
            assigned = Array(repeating: nil, count: record)
        }

        private static func compare(_ all: UnsafeRawBufferPointer, _ a: Entry, _ b: Entry) -> Int32 {
            compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
        }

        /// Whether an id of `count` bytes can be a key: empty or over-long ids are never put, and
        /// are refused when claimed, in record order.
        private static func isKeySize(_ count: Int) -> Bool { count >= 1 && count <= 511 }

        /// The positions records get from `first` on: a new one for each record whose id is
        /// neither stored nor held by an earlier record.
        private func newPositions(from first: UInt64) -> [UInt64] {
            var positions = [UInt64](repeating: 0, count: stored.count)
            var next = first
            for g in 0..<positions.count {
                guard earlier[g] == nil, case .absent = stored[g] else { continue }
                positions[g] = next
                next += 1
            }
            return positions
        }

        /// Puts every id new to the store with the position its record gets (the log's next
        /// position is `first`), and records what the store held for the others (`stored`).
        mutating func claim(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase, first: UInt64) throws {
            // As if every id were new: one pass puts them, and finds the stored ones.
            var provisional = newPositions(from: first)
            var foundStored = false
            var stored = self.stored
            // One cursor: each key is searched from the leaf of the one before.
            try bytes.withUnsafeBytes { all in try txn.withCursor(db) { c in
                var first: Entry? = nil
                var firstStored = Stored.absent
                for e in sorted {
                    if let f = first, IdLookups.compare(all, f, e) == 0 {
                        stored[e.record] = firstStored
                        continue
                    }
                    first = e
                    firstStored = .absent
                    if IdLookups.isKeySize(e.count) {
                        let key = UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count])
                        firstStored = try withUnsafeBytes(of: provisional[e.record].bigEndian) { value in
                            try c.insert(key: key, value: value) { existing in
                                EventLog.position(from: existing).map { Stored.position($0) } ?? .malformed
                            }
                        } ?? .absent
                        if case .absent = firstStored {} else { foundStored = true }
                    } else {
                        provisional[e.record] = 0  // never put
                    }
                    stored[e.record] = firstStored
                }
            } }
            self.stored = stored
            if foundStored {
                // The positions after the first stored id move down: put those ids again.
                var moved = newPositions(from: first)
                try bytes.withUnsafeBytes { all in try txn.withCursor(db) { c in
                    for e in sorted where moved[e.record] != provisional[e.record] && moved[e.record] != 0 {
                        guard IdLookups.isKeySize(e.count) else {
                            moved[e.record] = 0  // never put
                            continue
                        }
                        try withUnsafeBytes(of: moved[e.record].bigEndian) { value in
                            try c.put(key: UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count]), value: value)
                        }
                    }
                } }
                provisional = moved
            }
            positions = provisional
        }
    }
}
