import CPrefetch

/// The incremental projector of SPEC §3: folds events in any order into identity clusters and
/// answers the journey, handoff, funnel, contact and at-risk queries.
///
/// The state is a canonical function of the *set* of events applied (each cluster keeps its
/// events sorted in timeline order), so replay, live folding and any permutation agree by
/// construction. Queries compute from a cluster's few facts at query time.
package struct Projector: Sendable {
    /// Subject, patient and referrer ids.
    var ids = Interner(reservingZero: false)
    /// Every other string a query reads (source, agent, concern, …) but the conversation,
    /// message and appointment ids, which records keep inline; 0 = absent.
    var values = Interner(reservingZero: true)
    /// Cluster slot of each interned id.
    var clusterOf: [UInt32] = []
    /// The next id of the same cluster, per id: each cluster's ids form a ring.
    var nextMember: [UInt32] = []
    /// Indexed by cluster slot; free slots (`isRoot` false) are reused for new clusters.
    var clusters: [Cluster] = []
    /// Slots emptied by merges.
    var freeSlots: [UInt32] = []
    /// Referrer id → slots of the clusters whose earliest referral names it (for `referrals_made`).
    var referredBy: [UInt32: [UInt32]] = [:]
    /// One bit per interned id, set once an `identify` that links (see `unlinks`) has the id as
    /// subject. Such a fact lives in its subject's cluster, so a cluster's flagged members are
    /// exactly the subjects the canonical rule (SPEC §3.1) sets aside; an unlink that withdraws
    /// a link rebuilds the cluster (`pendingSplits`), clearing the bits of its ids first.
    var identifiedSubjects: [UInt64] = []
    /// The latest `unlink` of each (subject, patient) pair, by `pairKey`: an identify of the
    /// pair links only when it comes after it in timeline order (SPEC §3.1). Empty on a store
    /// without unlinks, where it costs an identify one emptiness check.
    var unlinks: [UInt64: TimelineKey] = [:]
    /// One id of each cluster in which an unlink withdrew a link since the last
    /// `dissolvePendingSplits`: the cluster must be rebuilt from its events, which its records
    /// cannot do alone (a record does not keep the subject of most events).
    var pendingSplits: [UInt32] = []
    /// Scratch space for encoding one record (kept to avoid allocating per event).
    private var scratch: [UInt8] = []
    /// Whether folding records the ids each event names in `touched` (for signals).
    package var tracksTouched = false
    /// The subject and other id of each event folded since the last `takeTouched`, with its
    /// `at`, while `tracksTouched` is set.
    var touched: [TouchedId] = []
    /// Reports scan the clusters on every core once there are at least this many cluster
    /// slots, on the calling thread below (a setting, not state: it is not saved in snapshots).
    package var reportScanParallelMinimum = 16_384
    /// The number of events applied.
    package internal(set) var eventCount: Int = 0
    /// The number of identity clusters (every id seen as subject, patient or referrer).
    package internal(set) var clusterCount: Int = 0

    /// An empty projection.
    package init() {}

    // MARK: folding

    /// Folds one event into the projection. Order of calls does not matter (SPEC §3).
    package mutating func apply(_ event: Event) { fold(event) }

    /// Folds one stored event straight from its record bytes, allocating nothing on the usual
    /// path; the answers are the same as for `apply(view.event())`.
    ///
    /// - Throws: `EventRecord.DecodeError` when a string is not valid UTF-8 (the check
    ///   `view.event()` makes); the projection is then unchanged.
    package mutating func apply(_ view: EventView) throws(EventRecord.DecodeError) {
        fold(try CheckedEventView(view).view)
    }

    /// Folds a record this program encoded itself (see `EventView(trusted:)`): its strings were
    /// checked as UTF-8 where the event entered, so they are not checked again.
    package mutating func apply(trusted view: EventView) {
        fold(view)
    }

    /// Folds a stored event whose strings `FoldPreparation.prepare` interned (see
    /// `beginPreparation`).
    mutating func apply(_ prepared: PreparedEventView) {
        // Ids new to the table take the next numbers, in the order they were prepared: the
        // clusters of those this event brings are made now, before it is folded.
        if prepared.subject == clusterOf.count { addCluster(prepared.subject) }
        if prepared.other == clusterOf.count { addCluster(prepared.other) }
        fold(prepared.view, subject: prepared.subject, other: prepared.other, values: prepared.values)
    }

    /// Folds prepared events in order (see `apply(_: PreparedEventView)`), starting the loads
    /// each event's fold will wait for a few events ahead of it (`prefetch`): the cluster slot
    /// of its subject 12 events ahead, the cluster 8 ahead, its log 4 ahead.
    package mutating func apply(_ batch: [PreparedEventView]) {
        batch.withUnsafeBufferPointer { events in
            let n = events.count
            for i in 0..<n {
                if i + 12 < n { prefetch(events[i + 12], .slot) }
                if i + 8 < n { prefetch(events[i + 8], .cluster) }
                if i + 4 < n { prefetch(events[i + 4], .log) }
                apply(events[i])
            }
        }
    }

    /// The stages of `prefetch`, in the order a fold should run them for an event, a few events
    /// apart, each after the previous one's lines have had time to arrive.
    enum PrefetchStage {
        /// The cluster slot of the event's subject.
        case slot
        /// The cluster (its slot read).
        case cluster
        /// The cluster's log: its header and last record (the cluster read).
        case log
    }

    /// Hints the CPU to start loading what folding `prepared` will read at `stage`; a hint only,
    /// the projector is unchanged. Folding the events of a large batch in order with each one's
    /// stages run some events ahead overlaps their cache misses instead of waiting for each.
    @inline(__always)
    func prefetch(_ prepared: PreparedEventView, _ stage: PrefetchStage) {
        let subject = Int(prepared.subject)
        clusterOf.withUnsafeBufferPointer { slots in
            guard subject < slots.count else { return }
            switch stage {
            case .slot:
                journey_prefetch(slots.baseAddress! + subject)
            case .cluster, .log:
                let slot = Int(slots[subject])
                clusters.withUnsafeBufferPointer { clusters in
                    guard slot < clusters.count else { return }
                    if stage == .cluster {
                        journey_prefetch(clusters.baseAddress! + slot)
                    } else {
                        let c = clusters.baseAddress! + slot
                        ByteLog.prefetch(UnsafeRawPointer(c) + Cluster.logOffset, at: Int(c.pointee.lastStart))
                    }
                }
            }
        }
    }

    /// Moves the string tables (ids and values) out of the projector, so that another thread
    /// can intern the strings of the events to fold (`FoldPreparation.prepare`) while this one
    /// folds them. Until `endPreparation` gives them back, the projector may fold only prepared
    /// events, in the order they were prepared in, and answer no query.
    package mutating func beginPreparation() -> FoldPreparation {
        var p = FoldPreparation(ids: Interner(reservingZero: false), values: Interner(reservingZero: true))
        swap(&p.ids, &ids)
        swap(&p.values, &values)
        return p
    }

    /// Gives back the string tables `beginPreparation` took, with every string prepared since.
    package mutating func endPreparation(_ preparation: FoldPreparation) {
        ids = preparation.ids
        values = preparation.values
    }

    private mutating func fold<E: FoldInput>(_ event: E) {
        // Intern the strings first (this may grow the tables), then encode into the scratch buffer.
        let subject = event.withField(.subject) { internId($0!) }
        let other = Projector.otherId(event) { internId($0) }
        let v = FieldValues(event, values: &values)
        fold(event, subject: subject, other: other, values: v)
    }

    /// Folds an event whose subject, other id and values are interned: `subject` and `other`
    /// (`Fact.none` when it names none) in `ids`, `v` in `values`.
    @inline(__always)
    private mutating func fold<E: FoldInput>(_ event: E, subject: UInt32, other: UInt32, values v: FieldValues) {
        eventCount += 1
        let type = event.type
        if tracksTouched {
            touched.append(TouchedId(id: subject, at: event.at))
            if other != Fact.none { touched.append(TouchedId(id: other, at: event.at)) }
        }
        var root = clusterOf[Int(subject)]
        var merged = false
        // The merged cluster's earliest referral naming a referrer, when one side has none
        // (then the other side's is it, and no walk is needed).
        var mergedReferrer: UInt32?
        // An identify links unless a later unlink of its pair withdrew it (checked only on a
        // store that has unlinks).
        let links = type == .identify && other != Fact.none
            && (unlinks.isEmpty || event.withField(.id) { isLinking(at: event.at, id: $0!, subject: subject, other: other) })
        if links {
            let otherRoot = clusterOf[Int(other)]
            if otherRoot != root {
                let a = clusters[Int(root)].referrer, b = clusters[Int(otherRoot)].referrer
                if a == Fact.none { mergedReferrer = b } else if b == Fact.none { mergedReferrer = a }
                root = union(root, otherRoot)
                merged = true
            }
        }
        var buffer: [UInt8] = []
        swap(&buffer, &scratch)
        let appended = event.withField(.id) { idBytes in
            let id = idBytes!
            let needed = Cluster.headroom + 200 + Cluster.idRoom + id.count + v.inlineBytes
            if buffer.count < needed { buffer = [UInt8](repeating: 0, count: needed) }
            return buffer.withUnsafeMutableBytes { out in
                let end = Projector.encodeBody(event, type: type, subject: subject, other: other, values: v, into: out)
                return clusters[Int(root)].insert(at: event.at, id: id, record: out, bodyEnd: end)
            }
        }
        swap(&buffer, &scratch)
        clusters[Int(root)].types |= 1 &<< UInt32(type.rawValue & 31)
        if links { markIdentifiedSubject(subject) }
        if links || merged { recomputeCanonical(root) }
        if type == .unlink, other != Fact.none { noteUnlink(event, subject: subject, other: other) }
        if merged, let r = mergedReferrer {
            setReferrer(root, r)
        } else if merged || (type == .referral && !appended) {
            updateReferrer(root)
        } else if type == .referral, other != Fact.none, clusters[Int(root)].referrer == Fact.none {
            // A referral after every other event of an unmerged cluster is its earliest naming
            // a referrer only when none did before.
            clusters[Int(root)].referrer = other
            referredBy[other, default: []].append(root)
        }
    }

    /// The interned values of one event's optional record fields, by `FactRecord.Field` bit,
    /// with the bits of those present.
    struct FieldValues: Sendable {
        var mask: UInt64 = 0
        /// Interned values; for the inline fields (`FactRecord.inlineFields`), their byte length.
        var byBit = SIMD16<UInt32>()
        /// Room the inline fields take in a record, at most: their bytes and length varints.
        var inlineBytes = 0
        /// The interned `AttrsText` of the event's attrs (record bit `FactRecord.Field.attrs`,
        /// past the vector), 0 when it has none.
        var attrs: UInt32 = 0

        init() {}

        /// Interns the values of `event` in `values` (the inline ones are only measured),
        /// visiting only the fields present.
        @inline(__always)
        init<E: FoldInput>(_ event: E, values: inout Interner) {
            self.init(event) { values.intern($0) }
        }

        /// `init(_:values:)` with the ids the interning function `intern` gives.
        @inline(__always)
        init<E: FoldInput>(_ event: E, intern: (UnsafeRawBufferPointer) -> UInt32) {
            var fields = event.presentStrings & FieldValues.stringFields
            while fields != 0 {
                let f = fields.trailingZeroBitCount
                let isInline = FieldValues.inlineStrings & (1 << UInt16(f)) != 0
                fields &= fields &- 1
                let bit = FieldValues.bit(ofField: f)
                if isInline {
                    let n = event.withField(at: f) { $0.unsafelyUnwrapped.count }
                    set(bit, UInt32(n))
                    inlineBytes += n + 10
                } else {
                    set(bit, event.withField(at: f) { intern($0.unsafelyUnwrapped) })
                }
            }
            attrs = event.withAttrsText { $0.map(intern) ?? 0 }
        }

        /// The string fields held here, as presence bits: `source` (2) through `message` (12).
        static var stringFields: UInt16 { 0x1FFC }

        /// The string fields kept inline (`FactRecord.inlineFields`), as presence bits.
        static var inlineStrings: UInt16 {
            1 << UInt16(EventRecord.StringField.conversation.rawValue) | 1 << UInt16(EventRecord.StringField.appointment.rawValue)
                | 1 << UInt16(EventRecord.StringField.message.rawValue)
        }

        /// Sets a field by record bit.
        @inline(__always)
        mutating func set(_ bit: Int, _ value: UInt32) {
            mask |= 1 &<< UInt64(bit)
            // A store to the lane's bytes (a dynamic SIMD subscript moves the whole vector).
            withUnsafeMutableBytes(of: &byBit) { $0.storeBytes(of: value, toByteOffset: 4 * (bit & 15), as: UInt32.self) }
        }

        /// The value at record bit `bit`. (Mutating only to read the lane in place: the bytes of
        /// a non-inout value are those of a copy.)
        @inline(__always)
        mutating func value(_ bit: Int) -> UInt32 {
            withUnsafeBytes(of: &byBit) { $0.load(fromByteOffset: 4 * (bit & 15), as: UInt32.self) }
        }

        /// The record bit (`FactRecord.Field`) of the `stringFields` field of raw value `f`, as
        /// one table lookup: four bits per field (the record keeps `message` before
        /// `appointment`).
        @inline(__always)
        static func bit(ofField f: Int) -> Int {
            Int(truncatingIfNeeded: bitTable >> UInt64(4 * (f & 15)) & 0xF)
        }

        /// The record bit by field raw value, four bits each (checked field by field by the tests).
        static var bitTable: UInt64 { 0x000A_DCB9_8765_4300 }
    }

    /// Writes the record body of `e` (everything after the `at` delta, up to its id) into `out`
    /// from `Cluster.headroom` on, and answers where it ends. `out` has room for any body.
    @inline(__always)
    private static func encodeBody<E: FoldInput>(
        _ e: E, type: EventType, subject: UInt32, other: UInt32, values: FieldValues,
        into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        typealias R = FactRecord
        let base = out.baseAddress!
        var p = Cluster.headroom
        @inline(__always) func byte(_ x: UInt8) { base.storeBytes(of: x, toByteOffset: p, as: UInt8.self); p += 1 }
        @inline(__always) func varint(_ x: UInt64) {
            var x = x
            while x >= 0x80 { byte(UInt8(truncatingIfNeeded: x) | 0x80); x >>= 7 }
            byte(UInt8(x))
        }
        var v = values
        let at = e.at
        // Status, subject and other are the three lowest bits, below every value field.
        let status = e.statusCode
        let hasSubject = type == .identify || type == .unlink, hasOther = other != Fact.none
        var mask = v.mask
        if status != nil { mask |= 1 &<< UInt64(R.Field.status.rawValue) }
        if hasSubject { mask |= 1 &<< UInt64(R.Field.subject.rawValue) }
        if hasOther { mask |= 1 &<< UInt64(R.Field.other.rawValue) }
        let scheduled = e.scheduledFor
        let amount = e.amountCents ?? 0
        if scheduled != nil { mask |= 1 &<< UInt64(R.Field.scheduledFor.rawValue) }
        if amount != 0 { mask |= 1 &<< UInt64(R.Field.amount.rawValue) }
        if v.attrs != 0 { mask |= 1 &<< UInt64(R.Field.attrs.rawValue) }

        var (header, channel) = e.factHeader
        if mask != 0 { header |= R.fieldsBit }
        byte(header)
        if header & 0x0F == R.extendedType { byte(type.rawValue) }
        if header & R.channelBit != 0 { byte(channel) }
        guard mask != 0 else { return p }
        varint(mask)
        // The 32-bit and inline fields in bit order, then the time and the amount, then attrs.
        if let status { varint(UInt64(status)) }
        if hasSubject { varint(UInt64(subject)) }
        if hasOther { varint(UInt64(other)) }
        var m = v.mask
        while m != 0 {
            let bit = m.trailingZeroBitCount
            m &= m &- 1
            varint(UInt64(v.value(bit)))
            if R.inlineFields & (1 << UInt64(bit)) != 0 {
                let field: EventRecord.StringField = switch bit {
                case R.Field.conversation.rawValue: .conversation
                case R.Field.message.rawValue: .message
                default: .appointment
                }
                e.withField(field) { bytes in
                    let bytes = bytes!
                    if !bytes.isEmpty { (base + p).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
                    p += bytes.count
                }
            }
        }
        if let scheduled { varint(R.zigzag(scheduled &- at)) }
        if amount != 0 { varint(R.zigzag(amount)) }
        if v.attrs != 0 { varint(UInt64(v.attrs)) }
        return p
    }

    /// Folds a batch of events, in any order.
    package mutating func apply(contentsOf events: some Sequence<Event>) {
        for e in events { apply(e) }
    }

    /// The canonical id of the cluster holding `id` (SPEC §3.1); nil for an id never seen.
    package func canonicalId(of id: String) -> String? {
        root(of: id).map(canonicalName)
    }

    /// Every id of the cluster holding `id`, canonical first, then the aliases sorted by bytes;
    /// nil for an id never seen. (A patient's history is the events of all these subjects.)
    package func clusterIds(of id: String) -> [String]? {
        guard let root = root(of: id) else { return nil }
        return [canonicalName(root)] + aliases(root)
    }

    private mutating func internId(_ s: UnsafeRawBufferPointer) -> UInt32 {
        let i = ids.intern(s)
        if Int(i) == clusterOf.count { addCluster(i) }
        return i
    }

    /// The interned `patient` of an identify or unlink or `referrer` of a referral, else `Fact.none`.
    @inline(__always)
    static func otherId<E: FoldInput>(_ event: E, _ intern: (UnsafeRawBufferPointer) -> UInt32) -> UInt32 {
        switch event.type {
        case .identify, .unlink: event.withField(.patient) { $0.map(intern) ?? Fact.none }
        case .referral: event.withField(.referrer) { $0.map(intern) ?? Fact.none }
        default: Fact.none
        }
    }

    /// Makes the one-id cluster of id `i`, the next id (`clusterOf.count`).
    private mutating func addCluster(_ i: UInt32) {
        nextMember.append(i)
        let c = Cluster(head: i, memberCount: 1, canonical: i)
        if let slot = freeSlots.popLast() {
            clusters[Int(slot)] = c
            clusterOf.append(slot)
        } else {
            clusterOf.append(UInt32(clusters.count))
            clusters.append(c)
        }
        clusterCount += 1
    }

    /// Joins two clusters (fewer ids into more) and answers the surviving slot.
    private mutating func union(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (big, small) = clusters[Int(a)].memberCount >= clusters[Int(b)].memberCount ? (a, b) : (b, a)
        removeReferrer(big)
        removeReferrer(small)
        let absorbed = clusters[Int(small)]
        clusters[Int(small)] = Cluster()
        freeSlots.append(small)
        // (Walked inline: a closure writing `clusterOf` from a non-mutating walk would copy it.)
        var m = absorbed.head
        repeat {
            clusterOf[Int(m)] = big
            m = nextMember[Int(m)]
        } while m != absorbed.head
        // Splice the two rings into one.
        let h1 = clusters[Int(big)].head, h2 = absorbed.head
        let n1 = nextMember[Int(h1)]
        nextMember[Int(h1)] = nextMember[Int(h2)]
        nextMember[Int(h2)] = n1
        clusters[Int(big)].memberCount += absorbed.memberCount
        clusters[Int(big)].mergeLog(absorbed)
        clusterCount -= 1
        return big
    }

    /// Calls `body` with each id of a cluster, its head first.
    func forEachMember(of c: Cluster, _ body: (UInt32) -> Void) {
        guard c.memberCount > 0 else { return }
        var m = c.head
        repeat {
            body(m)
            m = nextMember[Int(m)]
        } while m != c.head
    }

    /// The ids of the cluster in `slot`, its head first.
    func members(_ slot: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        forEachMember(of: clusters[Int(slot)]) { out.append($0) }
        return out
    }

    /// Recomputes the canonical id of a cluster by the rule of SPEC §3.1.
    private mutating func recomputeCanonical(_ root: UInt32) {
        // Static, on the two arrays it reads: a method call from here would copy the whole projector.
        let id = Projector.canonical(of: clusters[Int(root)], nextMember: nextMember, identified: identifiedSubjects, unlinks: unlinks)
        clusters[Int(root)].canonical = id
    }

    static func isIdentifiedSubject(_ id: UInt32, _ identified: [UInt64]) -> Bool {
        let word = Int(id >> 6)
        return word < identified.count && identified[word] & (1 &<< UInt64(id & 63)) != 0
    }

    mutating func markIdentifiedSubject(_ id: UInt32) {
        let word = Int(id >> 6)
        if word >= identifiedSubjects.count {
            identifiedSubjects.append(contentsOf: repeatElement(0, count: word + 1 - identifiedSubjects.count))
        }
        identifiedSubjects[word] |= 1 &<< UInt64(id & 63)
    }

    func canonical(of c: Cluster) -> UInt32 {
        Projector.canonical(of: c, nextMember: nextMember, identified: identifiedSubjects, unlinks: unlinks)
    }

    static func canonical(of c: Cluster, nextMember: [UInt32], identified: [UInt64], unlinks: [UInt64: TimelineKey]) -> UInt32 {
        // Settled from the members when no identify names a patient (the head) or exactly one
        // member is not such an identify's subject (that member).
        var unflagged = 0
        var candidate = Fact.none
        var flagged = false
        var m = c.head
        repeat {
            if isIdentifiedSubject(m, identified) {
                flagged = true
            } else {
                unflagged += 1
                candidate = m
            }
            m = nextMember[Int(m)]
        } while m != c.head
        if !flagged { return c.head }
        if unflagged == 1 { return candidate }
        // Identifies per cluster are few: small arrays beat sets here. Only those that link
        // count (SPEC §3.1).
        var linking: [Fact] = []
        if unlinks.isEmpty {
            c.forEachFact(ofType: .identify) { f in
                if f.other != Fact.none { linking.append(f) }
            }
        } else {
            c.forEachFactAndID(ofType: .identify) { f, id in
                if f.other != Fact.none, Projector.isLinking(f, id: id, unlinks) { linking.append(f) }
            }
        }
        var subjects: [UInt32] = []
        var firstPatient = Fact.none
        for f in linking {
            subjects.append(f.subject)
            if firstPatient == Fact.none { firstPatient = f.other }
        }
        guard firstPatient != Fact.none else { return c.head }
        let subjectSet: Set<UInt32>? = subjects.count > 16 ? Set(subjects) : nil
        var candidates: [UInt32] = []
        m = c.head
        repeat {
            if !(subjectSet?.contains(m) ?? subjects.contains(m)) { candidates.append(m) }
            m = nextMember[Int(m)]
        } while m != c.head
        if candidates.count == 1 { return candidates[0] }
        if candidates.isEmpty { return firstPatient }
        // Several sinks: the one named as patient by the earliest identify naming any of them.
        let set = Set(candidates)
        var chosen = Fact.none
        for f in linking where set.contains(f.other) {
            chosen = f.other
            break
        }
        return chosen != Fact.none ? chosen : firstPatient  // every sink of a cluster with identifies is a patient
    }

    mutating func removeReferrer(_ root: UInt32) {
        let r = clusters[Int(root)].referrer
        guard r != Fact.none else { return }
        if var list = referredBy[r] {
            list.removeAll { $0 == root }
            referredBy[r] = list.isEmpty ? nil : list
        }
        clusters[Int(root)].referrer = Fact.none
    }

    /// Re-derives the cluster's earliest referral and keeps the reverse index in step.
    mutating func rebuildReferrer(_ root: UInt32) { updateReferrer(root) }

    private mutating func updateReferrer(_ root: UInt32) {
        var r = Fact.none
        clusters[Int(root)].forEachFact(ofType: .referral) { f in
            if r == Fact.none, f.other != Fact.none { r = f.other }
        }
        setReferrer(root, r)
    }

    /// Makes `r` the cluster's referrer, keeping the reverse index in step.
    private mutating func setReferrer(_ root: UInt32, _ r: UInt32) {
        guard r != clusters[Int(root)].referrer else { return }
        removeReferrer(root)
        if r != Fact.none {
            clusters[Int(root)].referrer = r
            referredBy[r, default: []].append(root)
        }
    }

    // MARK: lookups shared by the queries

    /// The slot of the cluster holding `id`, nil for an id never seen.
    func root(of id: String) -> UInt32? {
        guard let i = ids.lookup(id) else { return nil }
        return clusterOf[Int(i)]
    }

    func canonicalName(_ root: UInt32) -> String { ids[clusters[Int(root)].canonical] }

    /// Every id of the cluster but the canonical one, sorted by bytes.
    func aliases(_ root: UInt32) -> [String] {
        let canonical = clusters[Int(root)].canonical
        return members(root).filter { $0 != canonical }.map { ids[$0] }.sorted { $0.bytesLess($1) }
    }

    /// Bytes held by each part of the state (capacities, array headers included, allocator
    /// overhead not), for memory reports; `cluster_log_records` is the part of `cluster_logs`
    /// records fill.
    package var memoryBreakdown: [(part: String, bytes: Int)] {
        let arrayHeader = 32
        var logs = 0, records = 0
        for c in clusters where c.log.capacity > 0 {
            logs += c.log.capacity + ByteLog.overhead
            records += c.log.count
        }
        var referrals = 0
        for (_, list) in referredBy { referrals += 12 + arrayHeader + 4 * list.capacity }
        return [
            ("cluster_logs", logs),
            ("cluster_log_records", records),
            ("cluster_table", clusters.capacity * MemoryLayout<Cluster>.stride + 4 * freeSlots.capacity),
            ("id_strings", ids.byteFootprint),
            ("value_strings", values.byteFootprint),
            ("id_links", 4 * (clusterOf.capacity + nextMember.capacity) + 8 * identifiedSubjects.capacity),
            ("referral_index", referrals),
        ]
    }

    /// Roots of all clusters.
    var roots: some Sequence<UInt32> {
        clusters.indices.lazy.filter { self.clusters[$0].isRoot }.map { UInt32($0) }
    }
}
