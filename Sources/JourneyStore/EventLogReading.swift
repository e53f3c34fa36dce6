import Glibc
import JourneyCore

/// Reading the log: by position, by subject, and raw scans.
extension EventLog {
    /// The position of the latest event, 0 when empty.
    ///
    /// Read from the store; should that read fail (no reader slot free), the position of this
    /// process's latest commit.
    public var lastPosition: UInt64 {
        (try? read { try self.lastPosition($0) }) ?? committedPosition.load(ordering: .acquiring)
    }

    /// The number of events stored (equal to `lastPosition`, since positions are dense).
    public var count: Int {
        (try? read { try $0.stat(self.log).entries }) ?? Int(lastPosition)
    }

    func lastPosition(_ txn: borrowing LMDBTransaction) throws -> UInt64 {
        try txn.withCursor(log) { c in
            try c.get(.last) { k, _ in try Self.logPosition(k) }
        } ?? 0
    }

    /// Runs `body` in a read transaction (one consistent snapshot).
    func read<R>(_ body: (borrowing LMDBTransaction) throws -> R) throws(StoreError) -> R {
        do { return try env.withReadTransaction(body) } catch {
            throw Self.storeError(error, "read", path: directory)
        }
    }

    /// Calls `body` with each event from `position` on, in log order, in one snapshot, until it
    /// answers false. The view is zero-copy: valid only during the call.
    ///
    /// - Throws: `StoreError` (`.corrupt` with the position for an unreadable record), or what
    ///   `body` throws.
    package func scan(from position: UInt64 = 1, _ body: (UInt64, EventView) throws -> Bool) throws {
        do {
            try env.withReadTransaction { txn in try scan(txn, from: position, body) }
        } catch let e as LMDBError {
            throw Self.storeError(e, "scan", path: directory)
        }
    }

    /// `scan` in a transaction of the caller's (LMDB's errors are not translated here).
    func scan(_ txn: borrowing LMDBTransaction, from position: UInt64, _ body: (UInt64, EventView) throws -> Bool) throws {
        try txn.withCursor(log) { c in
            try withUnsafeBytes(of: position.bigEndian) { start in
                var op = LMDBCursor.Operation.setRange
                while true {
                    let more = try c.get(op, key: start) { k, v -> Bool in
                        let p = try Self.logPosition(k)
                        return try body(p, try Self.view(v, p))
                    }
                    guard more == true else { return }
                    op = .next
                }
            }
        }
    }

    /// Up to `limit` events from `position` on, decoded, in log order.
    public func events(from position: UInt64 = 1, limit: Int = .max) throws(StoreError) -> [(UInt64, Event)] {
        var out: [(UInt64, Event)] = []
        if limit <= 0 { return out }
        do {
            try scan(from: position) { p, view in
                out.append((p, try Self.decode(view, p)))
                return out.count < limit
            }
        } catch {
            throw Self.storeError(error, "read", path: directory)
        }
        return out
    }

    /// The positions of the events whose subject is `subject`, ascending.
    public func positions(subject: String) throws(StoreError) -> [UInt64] {
        try read { txn in try self.positions(txn, subject: subject) }
    }

    func positions(_ txn: borrowing LMDBTransaction, subject: String) throws -> [UInt64] {
        var out: [UInt64] = []
        var s = subject
        try s.withUTF8 { key in
            guard !key.isEmpty else { return }
            try txn.withCursor(subjects) { c in
                var op = LMDBCursor.Operation.set
                while let p = try c.get(op, key: UnsafeRawBufferPointer(key), { _, v in Self.position(from: v) }) {
                    guard let p else { throw StoreError(.corrupt, "subjects index of \(Quote.short(subject)) holds a malformed position") }
                    out.append(p)
                    op = .nextDuplicate
                }
            }
        }
        return out
    }

    /// The events of every subject in `subjects` (e.g. all ids of one identity cluster), in
    /// position order, read in one snapshot.
    public func events(subjects: [String]) throws(StoreError) -> [(UInt64, Event)] {
        try read { txn in
            var all: [UInt64] = []
            for s in Set(subjects) { all += try self.positions(txn, subject: s) }
            all.sort()
            var out: [(UInt64, Event)] = []
            out.reserveCapacity(all.count)
            for p in all {
                let e = try withUnsafeBytes(of: p.bigEndian) { key in
                    try txn.withValue(self.log, forKey: key) { v in
                        try Self.decode(try Self.view(v, p), p)
                    }
                }
                guard let e else {
                    throw StoreError(.corrupt, "subjects index points to missing position \(p); run verify", context: .init(position: p))
                }
                out.append((p, e))
            }
            return out
        }
    }

    /// Counts the records from `position` on, touching each record's bytes without decoding:
    /// the physical floor of a full scan, for benchmarks.
    package func rawScanCount(from position: UInt64 = 1) throws(StoreError) -> Int {
        try read { txn in
            var n = 0
            var touched: UInt64 = 0
            try txn.withCursor(self.log) { c in
                try withUnsafeBytes(of: position.bigEndian) { start in
                    var op = LMDBCursor.Operation.setRange
                    while try c.get(op, key: start, { _, v in
                        touched &+= UInt64(v.count) &+ UInt64(v.first ?? 0) &+ UInt64(v.last ?? 0)
                    }) != nil {
                        n += 1
                        op = .next
                    }
                }
            }
            blackHole(touched)
            return n
        }
    }
}
