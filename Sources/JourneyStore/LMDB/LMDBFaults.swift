import CLMDB
import Synchronization

/// A failure to inject at the C boundary: the chosen call answers the chosen error code instead
/// of reaching LMDB. For tests of the error paths (disk full, I/O errors, a full reader table),
/// which real disks produce rarely and never on cue.
///
/// Faults are armed per environment (`LMDBEnvironment.inject`), so stores of concurrent tests do
/// not see each other's. Unarmed, a wrapper pays one relaxed atomic load.
package struct LMDBFault: Sendable, Hashable {
    /// The wrapped calls a fault can target.
    package enum Call: Sendable, Hashable {
        /// `mdb_txn_begin` of a read-only transaction (e.g. `MDB_READERS_FULL`).
        case beginRead
        /// `mdb_txn_begin` of a top-level write transaction.
        case beginWrite
        /// `mdb_put` (e.g. `MDB_MAP_FULL` in the middle of a batch, or `ENOSPC` from a page spill).
        case put
        /// `mdb_txn_commit` of a top-level transaction; the transaction is aborted instead.
        case commit
        /// `mdb_env_sync` (e.g. `EIO`).
        case sync
        /// Growing the map (`mdb_env_set_mapsize`), refused before LMDB unmaps anything.
        case growMap
    }

    /// The call that fails.
    package var call: Call
    /// The code it answers.
    package var error: LMDBError
    /// How many matching calls succeed before the first failure.
    package var after: Int
    /// How many matching calls fail, then the fault is spent; nil: every one, until cleared.
    package var times: Int?

    package init(_ call: Call, _ error: LMDBError, after: Int = 0, times: Int? = 1) {
        self.call = call
        self.error = error
        self.after = after
        self.times = times
    }
}

/// The faults armed on one environment, and how often each fired.
struct LMDBFaultPlan: Sendable {
    var faults: [LMDBFault] = []
    /// Matching calls seen by each fault.
    var seen: [Int] = []
    /// Failures injected, per call.
    var fired: [LMDBFault.Call: Int] = [:]

    /// The error code the call must answer (0: let it through), counting the call.
    mutating func check(_ call: LMDBFault.Call) -> Int32 {
        for i in faults.indices where faults[i].call == call {
            let n = seen[i]
            seen[i] += 1
            guard n >= faults[i].after else { continue }
            if let times = faults[i].times, n >= faults[i].after + times { continue }
            fired[call, default: 0] += 1
            return faults[i].error.rawValue
        }
        return 0
    }
}

extension LMDBEnvironment {
    /// Arms `fault` on this environment (in addition to those armed already).
    package func inject(_ fault: LMDBFault) {
        faultPlan.withLock { plan in
            plan.faults.append(fault)
            plan.seen.append(0)
        }
        faultsArmed.store(true, ordering: .releasing)
    }

    /// Disarms every fault; the counts of injected failures are kept.
    package func clearFaults() {
        faultPlan.withLock { plan in
            plan.faults.removeAll()
            plan.seen.removeAll()
        }
        faultsArmed.store(false, ordering: .releasing)
    }

    /// How many failures were injected into `call` so far.
    package func injectedFailures(_ call: LMDBFault.Call) -> Int {
        faultPlan.withLock { $0.fired[call] ?? 0 }
    }

    /// The code an armed fault makes `call` answer, or 0 to go on to LMDB.
    @inline(__always)
    func injectedFault(_ call: LMDBFault.Call) -> Int32 {
        guard faultsArmed.load(ordering: .relaxed) else { return 0 }
        return faultPlan.withLock { $0.check(call) }
    }
}
