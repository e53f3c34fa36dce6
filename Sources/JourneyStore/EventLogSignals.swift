import JourneyCore

/// The store's signals (SPEC §3.7) and their named consumers.
///
/// `signals` maps a big-endian seq (dense from 1, in commit order) to a signal object without
/// its seq (`Signal.storedBytes`); `consumers` maps a consumer's name to 16 bytes: the last seq
/// it acknowledged and the time it was created (ms), both big-endian. Both are written only by
/// the store's one writer.
extension EventLog {
    /// A named reader of the signals and how far it has acknowledged them.
    public struct SignalConsumer: Sendable, Hashable {
        /// The consumer's name.
        public var name: String
        /// The last seq it acknowledged (0: none).
        public var acked: UInt64
        /// When it was created (ms).
        public var createdAt: Int64
    }

    /// The longest consumer name, in UTF-8 bytes.
    public static let maxConsumerName = 128

    /// Appends signal objects in `txn`, numbered on from the last seq.
    func appendSignals(_ txn: borrowing LMDBTransaction, _ entries: [[UInt8]]) throws {
        guard !entries.isEmpty, let signals else { return }
        var next = try lastSignalSeq(txn) + 1
        for entry in entries {
            try txn.put(signals, key: Self.be64(next), value: entry, flags: .append)
            next += 1
        }
    }

    func lastSignalSeq(_ txn: borrowing LMDBTransaction) throws -> UInt64 {
        guard let signals else { return 0 }
        return try txn.withCursor(signals) { c in
            try c.get(.last) { k, _ in Self.position(from: k) }
        }.flatMap { $0 } ?? 0
    }

    /// The seq of the latest signal (0 when there is none).
    public func lastSignalSeq() throws(StoreError) -> UInt64 {
        try read { txn in try self.lastSignalSeq(txn) }
    }

    /// Calls `body` with each stored signal after seq `after`, in seq order, with its seq and
    /// stored bytes, until it answers false.
    package func scanSignals(after: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Bool) throws(StoreError) {
        guard let signals else { return }
        try read { txn in
            try txn.withCursor(signals) { c in
                try withUnsafeBytes(of: (after &+ 1).bigEndian) { start in
                    var op = LMDBCursor.Operation.setRange
                    while let go = try c.get(op, key: start, { k, v -> Bool in
                        guard let seq = Self.position(from: k) else { throw StoreError(.corrupt, "signals key is not 8 bytes") }
                        return try body(seq, v)
                    }) {
                        if !go { return }
                        op = .next
                    }
                }
            }
        }
    }

    /// The stored signals after seq `after`, at most `limit` of them.
    public func signals(after: UInt64, limit: Int = .max) throws(StoreError) -> [Signal] {
        var out: [Signal] = []
        guard limit > 0 else { return out }
        var failure: StoreError?
        try scanSignals(after: after) { seq, stored in
            do {
                let value = try JSONParser.parse(Array(Signal.line(seq: seq, stored: stored)))
                out.append(try Signal(json: value))
            } catch {
                failure = StoreError(.corrupt, "signal \(seq): \(error)", context: .init(position: seq))
                return false
            }
            return out.count < limit
        }
        if let failure { throw failure }
        return out
    }

    /// Every consumer, by name.
    public func signalConsumers() throws(StoreError) -> [SignalConsumer] {
        guard let consumers else { return [] }
        return try read { txn in
            var out: [SignalConsumer] = []
            try txn.withCursor(consumers) { c in
                var op = LMDBCursor.Operation.first
                while let entry = try c.get(op, { k, v in (String(decoding: k, as: UTF8.self), Self.consumerValue(v)) }) {
                    guard let (acked, created) = entry.1 else {
                        throw StoreError(.corrupt, "consumer \"\(entry.0)\": value is not 16 bytes")
                    }
                    out.append(SignalConsumer(name: entry.0, acked: acked, createdAt: created))
                    op = .next
                }
            }
            return out
        }
    }

    /// The consumer named `name`; nil when there is none.
    public func signalConsumer(_ name: String) throws(StoreError) -> SignalConsumer? {
        guard let consumers else { return nil }
        return try read { txn in try self.consumer(txn, consumers, name) }
    }

    private func consumer(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase, _ name: String) throws -> SignalConsumer? {
        try txn.withValue(db, forKey: Array(name.utf8)) { v -> SignalConsumer in
            guard let (acked, created) = Self.consumerValue(v) else {
                throw StoreError(.corrupt, "consumer \"\(name)\": value is not 16 bytes")
            }
            return SignalConsumer(name: name, acked: acked, createdAt: created)
        }
    }

    /// The consumer named `name`, created (having acknowledged nothing) when missing.
    ///
    /// - Throws: `.invalidArgument` for a name that is empty, over `maxConsumerName` bytes or
    ///   holds a control character; the store's errors.
    public func openSignalConsumer(_ name: String, now: Int64) throws(StoreError) -> SignalConsumer {
        try Self.checkConsumerName(name)
        if let c = try signalConsumer(name) { return c }
        return try write(estimatedBytes: 256) { txn in
            guard let consumers = self.consumers else { throw self.readOnlyError("create a signal consumer") }
            if let c = try self.consumer(txn, consumers, name) { return c }
            try txn.put(consumers, key: Array(name.utf8), value: Self.be64(0) + Self.be64(UInt64(bitPattern: now)))
            return SignalConsumer(name: name, acked: 0, createdAt: now)
        }
    }

    /// Records, durably, that consumer `name` has handled every signal up to `seq`. An
    /// acknowledgement never moves back: a seq below the consumer's is a no-op. Answers the
    /// consumer as it now is.
    ///
    /// - Throws: `.notFound` for a consumer never opened; `.invalidArgument` for a seq past the
    ///   latest signal; the store's errors.
    public func ackSignals(consumer name: String, seq: UInt64) throws(StoreError) -> SignalConsumer {
        try Self.checkConsumerName(name)
        return try write(estimatedBytes: 256) { txn in
            guard let consumers = self.consumers else { throw self.readOnlyError("acknowledge signals") }
            guard var c = try self.consumer(txn, consumers, name) else {
                throw StoreError(.notFound, "no signal consumer named \"\(name)\"; read the signals with it first")
            }
            let last = try self.lastSignalSeq(txn)
            guard seq <= last else {
                throw StoreError(.invalidArgument, "cannot acknowledge seq \(seq): the latest signal is \(last)")
            }
            guard seq > c.acked else { return c }
            c.acked = seq
            try txn.put(consumers, key: Array(name.utf8), value: Self.be64(seq) + Self.be64(UInt64(bitPattern: c.createdAt)))
            return c
        }
    }

    static func checkConsumerName(_ name: String) throws(StoreError) {
        let n = name.utf8.count
        guard n >= 1, n <= maxConsumerName else {
            throw StoreError(.invalidArgument, "a consumer name is 1–\(maxConsumerName) bytes; got \(n)")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) else {
            throw StoreError(.invalidArgument, "a consumer name holds a control or invisible character")
        }
    }

    private static func consumerValue(_ v: UnsafeRawBufferPointer) -> (UInt64, Int64)? {
        guard v.count == 16 else { return nil }
        let acked = UInt64(bigEndian: v.loadUnaligned(as: UInt64.self))
        let created = Int64(bitPattern: UInt64(bigEndian: v.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        return (acked, created)
    }
}
