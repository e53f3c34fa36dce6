import Synchronization

/// Links the batches of one stream (an import): once a batch of the chain fails, the pipeline
/// refuses the chain's later batches without writing them, so a failure never leaves a hole
/// with later batches stored after it.
package final class WriteChain: Sendable {
    private let failed = Atomic<Bool>(false)

    package init() {}

    /// True once a batch of the chain has failed.
    package var hasFailed: Bool { failed.load(ordering: .acquiring) }

    func markFailed() { failed.store(true, ordering: .releasing) }
}
