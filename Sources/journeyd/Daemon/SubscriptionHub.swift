import Dispatch
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

/// Subscriptions: each catches up from its position, then follows live appends, without gaps
/// or repeats.
///
/// The log is the buffer: a subscriber's pump reads the log from the subscriber's next
/// position and queues lines only while its connection's output queue has room, so a backlog
/// of any size streams to a client that keeps reading, in memory bounded by the output cap.
/// When the queue is full the pump parks, holding no thread and no read transaction, and
/// resumes when the client has drained half of it; a client that takes nothing for
/// `stallTimeout` while its queue is full is disconnected. The writer only wakes pumps (on
/// their own serial queues) after a commit: it never waits for a subscriber, and subscribers
/// never wait for each other.
///
/// The same hub streams the store's signals to their consumers (`init(source:)`): the signals
/// database is then the buffer, numbered by seq.
final class SubscriptionHub: Sendable {
    /// Reads the lines to stream from number `from` on (line k is number `from + k`, numbers
    /// dense), handing each to `line` until it answers false.
    typealias Source = @Sendable (_ from: UInt64, _ line: ([UInt8]) -> Bool) throws -> Void
    /// Records, before they are sent, the lines numbered from `first` on (the read audit of a
    /// stream that names patients); a throw refuses them with `audit_unavailable` and ends the stream.
    typealias Disclose = @Sendable (_ first: UInt64, _ lines: [[UInt8]]) throws(AuditUnavailable) -> Void

    private final class Subscriber: Sendable {
        let connection: ServerConnection
        let queue = DispatchQueue(label: "journeyd.subscriber")
        let state: Mutex<PumpState>
        let disclose: Disclose?
        init(connection: ServerConnection, next: UInt64, disclose: Disclose?) {
            self.connection = connection
            self.state = Mutex(PumpState(next: next))
            self.disclose = disclose
        }
    }

    private struct PumpState {
        /// The next position to send.
        var next: UInt64
        /// A pump is queued on the subscriber's queue.
        var scheduled = false
        /// Set while the pump waits for room in the output queue: the number of that wait.
        var parked: UInt64?
        var parks: UInt64 = 0
    }

    private let source: Source
    private let stallTimeout: Duration
    private let subscribers = Mutex<[ObjectIdentifier: Subscriber]>([:])
    /// Events read per read transaction.
    private let chunk = 1000

    /// A hub of subscriptions to the log.
    convenience init(log: EventLog, stallTimeout: Duration = .seconds(10)) {
        self.init(stallTimeout: stallTimeout) { from, line in
            try log.scan(from: from) { pos, view in
                line(SubscriptionEvent(position: pos, event: try view.event()).line)
            }
        }
    }

    /// A hub streaming what `source` reads.
    init(stallTimeout: Duration = .seconds(10), source: @escaping Source) {
        self.source = source
        self.stallTimeout = stallTimeout
    }

    /// The open subscriptions.
    var count: Int { subscribers.withLock { $0.count } }

    /// Streams to `connection` from number `from` on, each batch passed to `disclose` first.
    func add(_ connection: ServerConnection, from: UInt64, disclose: Disclose? = nil) {
        let s = Subscriber(connection: connection, next: from, disclose: disclose)
        let key = ObjectIdentifier(s)
        subscribers.withLock { $0[key] = s }
        connection.onClose { [weak self] in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: key) }
        }
        schedule(s, resuming: false)
    }

    /// Wakes every subscriber after a commit (on the writer thread: only schedules work).
    func advance(to last: UInt64) {
        for s in subscribers.withLock({ Array($0.values) }) { schedule(s, resuming: false) }
    }

    func closeAll() {
        for s in subscribers.withLock({ Array($0.values) }) { s.connection.close() }
    }

    /// Queues a pump unless one is queued. A parked subscriber is left alone by commits: it
    /// resumes when its client makes room (`resuming`).
    private func schedule(_ s: Subscriber, resuming: Bool) {
        let go = s.state.withLock { st -> Bool in
            if resuming { st.parked = nil }
            if st.scheduled || st.parked != nil { return false }
            st.scheduled = true
            return true
        }
        if go { s.queue.async { self.pump(s) } }
    }

    /// Sends from the subscriber's next position to the end of the log, or until its output
    /// queue is full.
    private func pump(_ s: Subscriber) {
        while s.connection.isOpen {
            // Clear the flags before reading, so a commit landing during the read reschedules us.
            let next = s.state.withLock { st -> UInt64 in
                st.scheduled = false
                st.parked = nil
                return st.next
            }
            // Read no more than fits: a reader slower than the log is read is sent what it has
            // room for at each wake-up, and nothing is read twice but the line that did not fit.
            let room = s.connection.outputRoom
            var lines: [[UInt8]] = []
            var bytes = 0
            do {
                try source(next) { line in
                    lines.append(line)
                    bytes += line.count + 1
                    return lines.count < chunk && bytes < room
                }
            } catch {
                // A record that fails its checks is answered `corrupt` with its position, never sent.
                let refusal = (error as? StoreError).map(Ops.storeError) ?? ProtocolError("store_error", "\(error)")
                _ = s.connection.send(refusal.line)
                s.connection.close()
                return
            }
            if lines.isEmpty { return }
            if let disclose = s.disclose {
                do throws(AuditUnavailable) {
                    try disclose(next, lines)
                } catch {
                    Log.error("audit", "signals refused: \(error.message)")
                    _ = s.connection.send(ProtocolError("audit_unavailable", error.description).line)
                    s.connection.close()
                    return
                }
            }
            guard let queued = s.connection.send(lines[...], orWhenRoom: { [weak self] in
                self?.schedule(s, resuming: true)
            }) else { return }
            // Positions are dense: the lines queued are next, next + 1, …
            let (more, park) = s.state.withLock { st -> (Bool, UInt64?) in
                st.next = next + UInt64(queued)
                if queued < lines.count {
                    st.parks += 1
                    st.parked = st.parks
                    return (false, st.parks)
                }
                // A full read means more may follow; otherwise a commit that landed meanwhile
                // has already scheduled the next pump.
                if (lines.count == chunk || bytes >= room) && !st.scheduled {
                    st.scheduled = true
                    return (true, nil)
                }
                return (false, nil)
            }
            if let park { disconnectIfStalled(s, park: park, written: s.connection.bytesWritten) }
            if !more { return }
        }
    }

    /// Disconnects the subscriber if, `stallTimeout` from now, it is still in the same wait and
    /// no byte more has gone to its socket (its client took nothing); checks again later if it
    /// is still waiting but progressing.
    private func disconnectIfStalled(_ s: Subscriber, park: UInt64, written: UInt64) {
        s.queue.asyncAfter(deadline: .now() + stallTimeout.dispatchInterval) { [weak self] in
            guard s.state.withLock({ $0.parked == park }) else { return }
            let now = s.connection.bytesWritten
            if now == written {
                s.connection.abort()
            } else {
                self?.disconnectIfStalled(s, park: park, written: now)
            }
        }
    }
}
