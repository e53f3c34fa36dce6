import Glibc
import JourneyCore
import JourneyProtocol

extension JourneyEngine {
    /// Erases the identifying data of the cluster holding `id` from the store for good (SPEC §6)
    /// and answers the receipt, which names nothing identifying.
    ///
    /// The cluster's ids become one new pseudonym, `erased:` and 16 random hexadecimal digits
    /// (`EventLog.erase` says which fields of which events); the read audit is rewritten to name
    /// the pseudonym instead (`AuditLog.rewrite`) and records the erasure itself under the
    /// pseudonym; the data file is then replaced by a compacted copy, so no page of it holds the
    /// old bytes (`EventLog.compact`); the projections are refolded from the log and the
    /// signals evaluated against the renamed ones. Meanwhile queries answer `Rebuilding`, and
    /// appends are taken (committed, and folded by the refold).
    ///
    /// - Parameter context: who erases and why; `reason` is required (it is kept in the receipt
    ///   and the read audit as given: it must not name the patient).
    /// - Throws: `StoreError` `.notFound` for an id no event names (nothing is changed),
    ///   `.invalidArgument` without a reason or for the pseudonym of an earlier erasure, the
    ///   store's write errors; `.io` when the compaction or the read audit's rewrite failed
    ///   after the events were rewritten (the projections are refolded all the same), with a
    ///   message saying what is left to do.
    public func erase(id: String, as context: AuditContext) throws -> ErasureReceipt {
        guard let reason = context.reason, !reason.isEmpty else {
            throw StoreError(.invalidArgument, "an erasure needs a reason (kept in its receipt; it must not name the patient)")
        }
        guard log.access == .readWrite else { throw StoreError(.readOnly, "erase: the store is open read-only") }
        return try erasing.withLock { _ in
            guard try !log.erasureReceipts().contains(where: { $0.pseudonym == id }) else {
                throw StoreError(.invalidArgument, "\(Quote.short(id)) is the pseudonym of an erased patient: there is nothing left to erase")
            }
            guard let ids = try read({ $0.clusterIds(of: id) }).0 else {
                throw StoreError(.notFound, "no event names the patient \(Quote.short(id)): nothing was erased")
            }
            let pseudonym = Self.newPseudonym()
            // No signal is raised from the old projections once the stored ones are renamed:
            // those raised so far are committed first, then renamed with the rest.
            signalEvaluator?.suspend()
            defer { signalEvaluator?.resume() }
            writes.settle()
            guard projections.withdraw() else {
                throw StoreError(.invalidArgument, "a rebuild of the projections is running: erase once it is done ('journeyd stats' shows it)")
            }
            let receipt: ErasureReceipt
            do {
                receipt = try log.erase(ids: ids, pseudonym: pseudonym, at: Clock.nowMs(), actor: context.actor, reason: reason)
            } catch {
                try? projections.resumeAnswering(log)
                throw error
            }
            // From here the log is rewritten: whatever fails, the projections are refolded from
            // it. The read audit first; until it is rewritten the store keeps the erased ids in
            // one entry (`pendingAuditRewrite`), so a process stopped before has it redone at
            // the next writing open, as an interrupted compaction is. The compaction then
            // removes that entry's bytes too.
            var auditFailure: (any Error)?
            do {
                try AuditLog.rewrite(directory: log.directory, replacing: Set(ids), with: pseudonym)
                try log.clearPendingAuditRewrite()
                try disclose("erase", parameters: Self.erasureParameters(receipt), ids: [pseudonym], to: context)
            } catch {
                auditFailure = error
            }
            var compactionFailure: (any Error)?
            do { try log.compact() } catch { compactionFailure = error }
            try projections.rebuild(log, checkpoint: Self.checkpointName, progress: nil)
            if auditFailure != nil || compactionFailure != nil {
                var left: [String] = []
                if let e = auditFailure {
                    left.append("the read audit could not be rewritten (\(e)): audit.log may still name the patient until the store is next opened for writing (restart journeyd), which rewrites it first")
                }
                if let e = compactionFailure {
                    left.append("the store could not be compacted (\(e)): the old bytes remain in free pages of data.mdb until the store is next opened for writing (restart journeyd), which compacts it first")
                }
                throw StoreError(
                    .io,
                    "the patient's events were rewritten (erasure \(receipt.seq), pseudonym \(receipt.pseudonym)) but " + left.joined(separator: "; and "))
            }
            try? saveCheckpoint()
            return receipt
        }
    }

    /// `{"patient":pseudonym,"erasure":seq}`, the parameters the read audit records for an erasure.
    private static func erasureParameters(_ r: ErasureReceipt) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("patient"); w.string(r.pseudonym)
        w.key("erasure"); w.int(Int64(r.seq))
        w.endObject()
        return w.string
    }

    /// `erased:` and 64 random bits as 16 hexadecimal digits.
    static func newPseudonym() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = rng.next() as UInt64
        let hex = String(n, radix: 16)
        return ErasureReceipt.pseudonymPrefix + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
