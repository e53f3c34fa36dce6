import Glibc
import JourneyCore

extension EventLog {
    /// Events already encoded as `EventRecord`s in their stored frame (`RecordFrame`: the
    /// record, then its checksum), back to back, ready for `appendEncoded`. Encoding and
    /// checksumming can be done off the write path (e.g. by the import's parser threads).
    package struct EncodedBatch: Sendable {
        /// The framed records, back to back.
        package private(set) var bytes: [UInt8] = []
        /// The end offset of each framed record in `bytes`.
        package private(set) var ends: [Int] = []
        /// The record indices in id order and in subject order (LMDB's key order, ties in
        /// record order) once `sortKeys()` computed them; empty otherwise.
        package private(set) var idOrder: [Int32] = []
        package private(set) var subjectOrder: [Int32] = []
        /// With `idOrder` (`subjectOrder`): the ids (subjects) back to back in that order, and
        /// each one's place in them, so a write merges the keys of its batches without reading
        /// the records again.
        private(set) var idBytes: [UInt8] = []
        private(set) var idKeys: [SortedId] = []
        private(set) var subjectBytes: [UInt8] = []
        private(set) var subjectKeys: [SortedId] = []

        /// A key of `idBytes` or `subjectBytes`: its first 16 bytes as numbers, where it is, and
        /// its record.
        struct SortedId {
            var prefix: KeyPrefix
            var start: UInt32
            var count: UInt32
            var record: Int32
        }

        package init(reservingEvents n: Int = 0) {
            bytes.reserveCapacity(n * 160)
            ends.reserveCapacity(n)
        }

        /// The number of events.
        package var count: Int { ends.count }

        /// Encodes and adds one event.
        package mutating func append(_ e: Event) throws(StoreError) {
            let start = bytes.count
            do { try EventRecord.encode(e, into: &bytes) } catch {
                throw StoreError(.tooLarge, "event \(e.id) at batch index \(ends.count): \(error.reason)",
                                 context: .init(id: e.id, batchIndex: ends.count))
            }
            RecordFrame.seal(&bytes, recordStart: start)
            ends.append(bytes.count)
            forgetOrder()
        }

        /// Parses one event's JSON text straight into its record and adds it; false, adding
        /// nothing, when the text needs the general path (`EventParser.parse`, then `append`),
        /// which then gives the same record or the error (see `EventRecord.appendParsing`).
        package mutating func appendParsing(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
            let start = bytes.count
            guard EventRecord.appendParsing(text, to: &bytes) else { return false }
            RecordFrame.seal(&bytes, recordStart: start)
            ends.append(bytes.count)
            forgetOrder()
            return true
        }

        /// Sorts the records' ids and subjects (into `idOrder`, `subjectOrder`), so that a write
        /// of many batches merges their sorted runs rather than sorting every key itself. Can
        /// run on any thread before the write; adding a record forgets the order. A batch with
        /// a malformed record gets no order (its write refuses it anyway).
        package mutating func sortKeys() {
            typealias Key = (prefix: KeyPrefix, start: Int, count: Int, record: Int32)
            var idKeys: [Key] = [], subjectKeys: [Key] = []
            idKeys.reserveCapacity(count)
            subjectKeys.reserveCapacity(count)
            func key(_ k: UnsafeRawBufferPointer, _ all: UnsafeRawBufferPointer, _ record: Int) -> Key {
                (KeyPrefix(k), k.baseAddress! - all.baseAddress!, k.count, Int32(record))
            }
            let ok = bytes.withUnsafeBytes { all -> Bool in
                for i in 0..<count {
                    let view = EventView(trusted: UnsafeRawBufferPointer(rebasing: all[recordRange(i)]))
                    idKeys.append(key(view.id, all, i))
                    subjectKeys.append(key(view.subject, all, i))
                }
                let less = { (a: Key, b: Key) -> Bool in
                    let c = compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
                    return c != 0 ? c < 0 : a.record < b.record
                }
                idKeys.sort(by: less)
                subjectKeys.sort(by: less)
                return true
            }
            idOrder = ok ? idKeys.map(\.record) : []
            subjectOrder = ok ? subjectKeys.map(\.record) : []
            guard ok else { return }
            /// The keys of `sorted`, back to back, and where each one is.
            func gathered(_ sorted: [Key]) -> ([UInt8], [SortedId]) {
                var keyBytes: [UInt8] = []
                var keys: [SortedId] = []
                keyBytes.reserveCapacity(sorted.reduce(0) { $0 + $1.count })
                keys.reserveCapacity(sorted.count)
                bytes.withUnsafeBytes { all in
                    for k in sorted {
                        keys.append(SortedId(prefix: k.prefix, start: UInt32(keyBytes.count), count: UInt32(k.count), record: k.record))
                        keyBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: all[k.start..<k.start + k.count]))
                    }
                }
                return (keyBytes, keys)
            }
            (idBytes, self.idKeys) = gathered(idKeys)
            (subjectBytes, self.subjectKeys) = gathered(subjectKeys)
        }

        /// Whether `sortKeys` gathered the subjects in order (`subjectKeys`).
        var hasSortedSubjects: Bool { subjectKeys.count == count && count > 0 }

        private mutating func forgetOrder() {
            if !idOrder.isEmpty {
                idOrder = []
                subjectOrder = []
                idBytes = []
                idKeys = []
                subjectBytes = []
                subjectKeys = []
            }
        }

        /// Removes every event, keeping the memory for the next batch.
        package mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            forgetOrder()
        }

        /// A batch of the one record at `i`.
        package func single(_ i: Int) -> EncodedBatch {
            var b = EncodedBatch()
            b.bytes = Array(bytes[range(i)])
            b.ends = [b.bytes.count]
            return b
        }

        /// The id of the record at `i`.
        package func id(at i: Int) -> String {
            bytes.withUnsafeBytes { all in
                String(decoding: EventView(trusted: UnsafeRawBufferPointer(rebasing: all[recordRange(i)])).id, as: UTF8.self)
            }
        }

        /// Where the framed record `i` (record and checksum, as stored) is in `bytes`.
        func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

        /// Where record `i` itself (without its checksum) is in `bytes`.
        func recordRange(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] - RecordFrame.trailerSize }
    }
}
