/// SplitMix64: a small, fast, deterministic generator, so a seed always gives the same practice.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A deterministic synthetic dental/medical practice: the events a real clinic's touchpoints
/// would produce, in arrival order.
///
/// Shape: about ten events per patient; acquisition by search, web, social, referral and phone;
/// anonymous web visitors identified later (sometimes only after they call); abandoned and missed
/// calls with call-backs; intake-bot chats handed off to staff; bookings with reminders,
/// cancellations (some rebooked), no-shows, visits with revenue, recalls months later, and
/// referrals between patients. About 5% of events arrive late (hours to weeks after they happened),
/// as buffered devices and batch exports do. Memory stays bounded: only patients whose journeys
/// are still in flight are held.
package struct PracticeGenerator: Sequence, IteratorProtocol {
    package struct Options: Sendable {
        /// How many events to produce.
        package var events: Int
        package var seed: UInt64
        /// Timeline start, ms since epoch (default 2025-01-01T00:00:00Z).
        package var start: Int64
        /// New patients per simulated day.
        package var patientsPerDay: Int
        /// Fraction of events that arrive late.
        package var lateFraction: Double
        /// Adds what a practice's reports and signals need to show every rule: consent per
        /// channel (some revoked later), reminder sequences (a week and a day before each
        /// appointment) and unanswered recall sequences (so engagement declines), quarterly
        /// recalls for some patients (so visits pass three and `overdue` can fire), a few wrong
        /// links withdrawn by `unlink`, and repeat referrers. Off by default: the benchmarks'
        /// practice keeps its shape.
        package var practiceRules: Bool
        /// How the practice's systems send its events (default `.clean`).
        package var shape: PracticeShape

        package init(events: Int = 1_000_000, seed: UInt64 = 42, start: Int64 = 1_735_689_600_000,
                    patientsPerDay: Int = 0, lateFraction: Double = 0.05, practiceRules: Bool = false,
                    shape: PracticeShape = .clean) {
            self.events = events
            self.practiceRules = practiceRules
            self.shape = shape
            self.seed = seed
            self.start = start
            // A busy multi-site practice. A fixed rate keeps memory bounded at any size: only the
            // patients of the last ~20 months have events still to come.
            self.patientsPerDay = patientsPerDay > 0 ? patientsPerDay : 150
            self.lateFraction = lateFraction
        }
    }

    /// A heap entry: the event itself waits in `parked`, so sifting moves 24 bytes, not events.
    private struct Pending: Comparable {
        var arrival: Int64
        var seq: UInt64
        var slot: Int
        static func < (a: Pending, b: Pending) -> Bool {
            a.arrival != b.arrival ? a.arrival < b.arrival : a.seq < b.seq
        }
        static func == (a: Pending, b: Pending) -> Bool { a.arrival == b.arrival && a.seq == b.seq }
    }

    package let options: Options
    private var rng: SplitMix64
    private var heap: [Pending] = []
    /// Events waiting for their arrival, by slot; `freeSlots` are reused.
    private var parked: [Event?] = []
    private var freeSlots: [Int] = []
    private var emitted = 0
    private var nextPatient = 0
    private var eventSeq: UInt64 = 0
    /// Orders events queued for the same arrival: the order they were queued in.
    private var pushSeq: UInt64 = 0
    private var appointmentSeq = 0
    private var conversationSeq = 0
    private var messageSeq = 0
    private let dayMs: Int64 = 86_400_000
    /// Journeys reach at most this far past their start (recalls included), so once the
    /// generator has started patients up to `t`, everything arriving before `t − horizon` is final.
    private let horizonMs: Int64 = 600 * 86_400_000

    package init(_ options: Options = Options()) {
        self.options = options
        self.rng = SplitMix64(seed: options.seed)
    }

    package mutating func next() -> Event? {
        guard emitted < options.events else { return nil }
        // Start patients until the earliest pending arrival is older than anything a new
        // patient could still produce.
        while heap.isEmpty || heap[0].arrival > patientStart(nextPatient) {
            startPatient()
        }
        let p = popMin()
        emitted += 1
        let event = parked[p.slot].take()!
        freeSlots.append(p.slot)
        return event
    }

    private func patientStart(_ n: Int) -> Int64 {
        options.start + Int64(n) * dayMs / Int64(options.patientsPerDay)
    }

    // MARK: journeys

    private static let campaigns = ["spring-recall", "new-patient-offer", "invisalign", "whitening", "kids-checkup"]
    private static let terms = ["dentist near me", "pediatric dentist near me", "emergency dentist",
                                "teeth whitening cost", "invisalign provider", "dental implants"]
    private static let concerns = ["toothache on the lower left", "wants a cleaning and check-up",
                                   "asking about whitening prices", "child's first visit",
                                   "broken crown", "insurance question before booking",
                                   "bleeding gums", "wants invisalign consultation"]
    private static let locations = ["downtown", "northside", "harbor"]
    private static let providers = ["dr-lee", "dr-patel", "dr-garcia", "dr-okafor", "hyg-smith"]
    private static let staff = ["staff:amy", "staff:ben", "staff:cruz", "staff:dana"]

    private mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) < p * 1_000_000 }
    private mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    private mutating func between(_ lo: Int64, _ hi: Int64) -> Int64 { lo + Int64(rng.next() % UInt64(hi - lo + 1)) }

    private mutating func startPatient() {
        let n = nextPatient
        nextPatient += 1
        var t = patientStart(n) + between(0, dayMs - 1)
        let patient = "p-\(n)"
        let anon = "anon-\(String(n &* 2_654_435_761 % 1_000_000_007, radix: 16))"
        var conv = newConversation()
        let concern = pick(Self.concerns)

        func minutes(_ lo: Int64, _ hi: Int64) -> Int64 { between(lo * 60_000, hi * 60_000) }

        // Acquisition.
        let roll = rng.next() % 100
        var known = false // has the practice tied this person to `patient` yet?
        var subject = anon
        switch roll {
        case 0..<35: // search → web
            let paid = chance(0.5)
            emit(Event(id: "", type: .searchHit, subject: anon, at: t, source: "google",
                       medium: paid ? "cpc" : "organic", campaign: paid ? pick(Self.campaigns) : nil,
                       term: pick(Self.terms)))
            t += minutes(0, 2)
            emit(Event(id: "", type: .webVisit, subject: anon, at: t, source: "google", medium: paid ? "cpc" : "organic"))
        case 35..<50: // web direct
            emit(Event(id: "", type: .webVisit, subject: anon, at: t))
        case 50..<60: // social
            emit(Event(id: "", type: .webVisit, subject: anon, at: t, channel: .social, source: "instagram",
                       medium: "social", campaign: pick(Self.campaigns)))
        case 60..<70 where n > 10: // referral by an earlier patient
            subject = patient
            known = true
            // With the practice rules, some patients refer again and again.
            let referrer = options.practiceRules && chance(0.4) ? between(0, Int64(Swift.min(n - 1, 24))) : between(0, Int64(n - 1))
            emit(Event(id: "", type: .referral, subject: patient, at: t, referrer: "p-\(referrer)"))
        default: // phone first
            subject = patient
            known = true
        }

        // Some browse again before making contact.
        if !known && chance(0.4) {
            t += minutes(30, 4 * 24 * 60)
            emit(Event(id: "", type: .webVisit, subject: anon, at: t))
        }
        // In the field, some visitors never get in touch: they stay anonymous.
        if options.shape == .field && !known && chance(PracticeShape.neverIdentified) { return }

        // First contact.
        t += minutes(5, 3 * 24 * 60)
        let contact = rng.next() % 10
        if contact < 3 {
            // Intake bot chat, handed off to a person by phone.
            emit(Event(id: "", type: .chat, subject: subject, at: t, agent: "bot:intake", conversation: conv, concern: concern))
            t += minutes(1, 5)
            let human = pick(Self.staff)
            emit(Event(id: "", type: .handoff, subject: subject, at: t, agent: "bot:intake", conversation: conv,
                       toAgent: human, toChannel: .phone))
            t += minutes(2, 60)
            if !known { identify(anon: anon, patient: patient, at: t - 1); known = true; subject = patient }
            emit(Event(id: "", type: .call, subject: subject, at: t, agent: human, conversation: conv,
                       resolved: true, direction: .outbound, durationS: between(60, 900), outcome: .answered))
        } else if contact < 5 {
            // Web form, then a call back.
            emit(Event(id: "", type: .form, subject: subject, at: t, conversation: conv, concern: concern))
            if !known { identify(anon: anon, patient: patient, at: t + 1); known = true; subject = patient }
            t += minutes(10, 24 * 60)
            emit(Event(id: "", type: .call, subject: subject, at: t, agent: pick(Self.staff), conversation: conv,
                       resolved: chance(0.8), direction: .outbound, durationS: between(60, 600), outcome: .answered))
        } else {
            // Inbound call; some are abandoned or missed first.
            if !known { identify(anon: anon, patient: patient, at: t); known = true; subject = patient }
            if chance(0.25) {
                emit(Event(id: "", type: .call, subject: subject, at: t, conversation: conv, concern: concern,
                           durationS: between(0, 90), outcome: chance(0.5) ? .abandoned : .missed))
                t += minutes(5, 6 * 60)
            }
            emit(Event(id: "", type: .call, subject: subject, at: t, agent: pick(Self.staff), conversation: conv,
                       concern: concern, resolved: chance(0.85), durationS: between(60, 900), outcome: .answered))
        }
        subject = patient
        if options.practiceRules { consents(patient: patient, at: t + 1000) }

        if chance(0.6) {
            t += minutes(1, 120)
            emit(Event(id: "", type: .eligibility, subject: patient, at: t, conversation: conv,
                       status: chance(0.85) ? .verified : (chance(0.5) ? .pending : .denied)))
        }

        // Bookings and visits; recalls bring some back.
        guard chance(0.7) else { return } // inquired, never booked
        var visits = 0
        var round = 0
        // Most come back every six months; with the practice rules some are on a quarterly recall.
        let recall: (Int64, Int64) = options.practiceRules && chance(0.3) ? (85, 100) : (170, 200)
        while round < 4 {
            round += 1
            t += minutes(1, 90)
            var appt = newAppointment()
            var when = t + between(1, 21) * dayMs
            let loc = pick(Self.locations), prov = pick(Self.providers)
            emit(Event(id: "", type: .booking, subject: patient, at: t, conversation: conv, appointment: appt,
                       scheduledFor: when, location: loc, provider: prov))
            if options.practiceRules && when - 7 * dayMs > t + 60_000 {
                // A reminder sequence: a week before, then the day before.
                let early = newMessage()
                emit(Event(id: "", type: .messageSent, subject: patient, at: when - 7 * dayMs, channel: .email,
                           campaign: "reminder", message: early))
                if chance(0.5) {
                    emit(Event(id: "", type: .messageOpened, subject: patient, at: when - 7 * dayMs + minutes(1, 600), message: early))
                }
            }
            let reminder = newMessage()
            emit(Event(id: "", type: .messageSent, subject: patient, at: Swift.max(t + 60_000, when - dayMs), channel: chance(0.5) ? .sms : .email,
                       campaign: "reminder", message: reminder))
            if chance(0.6) {
                emit(Event(id: "", type: .messageOpened, subject: patient, at: Swift.max(t + 60_000, when - dayMs) + minutes(1, 600), message: reminder))
            }
            let fate = rng.next() % 100
            if fate < 10 {
                emit(Event(id: "", type: .cancellation, subject: patient, at: Swift.max(t + 3_600_000, when - between(1, 48) * 3_600_000),
                           appointment: appt))
                if chance(0.5) { break } // never rebooked
                t = when + minutes(60, 3 * 24 * 60)
                appt = newAppointment()
                when = t + between(2, 14) * dayMs
                emit(Event(id: "", type: .booking, subject: patient, at: t, channel: .phone, agent: pick(Self.staff),
                           appointment: appt, scheduledFor: when, location: loc, provider: prov))
            } else if fate < 18 {
                emit(Event(id: "", type: .noShow, subject: patient, at: when + 30 * 60_000, appointment: appt))
                if chance(0.5) { break }
                t = when + minutes(60, 2 * 24 * 60)
                appt = newAppointment()
                when = t + between(2, 14) * dayMs
                emit(Event(id: "", type: .booking, subject: patient, at: t, channel: .phone, agent: pick(Self.staff),
                           appointment: appt, scheduledFor: when, location: loc, provider: prov))
            }
            emit(Event(id: "", type: .visit, subject: patient, at: when, appointment: appt, location: loc, provider: prov,
                       amountCents: between(80, 1_200) * 100 + (chance(0.3) ? between(1, 99) : 0)))
            visits += 1
            if visits == 1 && chance(0.3) {
                emit(Event(id: "", type: .webVisit, subject: patient, at: when + minutes(60, 3 * 24 * 60),
                           channel: .portal))
            }
            // Recall six months on; about half come back.
            t = when + between(recall.0, recall.1) * dayMs
            guard t - patientStart(n) < horizonMs - 30 * dayMs else { break }
            let recallMessage = newMessage()
            emit(Event(id: "", type: .messageSent, subject: patient, at: t, channel: .email, campaign: "spring-recall",
                       message: recallMessage))
            guard chance(0.5) else {
                if options.practiceRules { unansweredRecalls(patient: patient, after: t, start: patientStart(n)) }
                break
            }
            emit(Event(id: "", type: .messageOpened, subject: patient, at: t + minutes(10, 3 * 24 * 60), message: recallMessage))
            t += minutes(60, 5 * 24 * 60)
            conv = newConversation()
            emit(Event(id: "", type: .call, subject: patient, at: t, agent: pick(Self.staff), conversation: conv,
                       concern: "recall check-up", resolved: true, durationS: between(60, 300), outcome: .answered))
        }
    }

    private mutating func identify(anon: String, patient: String, at: Int64) {
        // With the practice rules, a few visitors are first linked to the wrong patient (the one
        // before them), and staff withdraw the link an hour to three days later.
        if options.practiceRules && nextPatient > 1 && chance(0.02) {
            let wrong = "p-\(nextPatient - 2)"
            emit(Event(id: "", type: .identify, subject: anon, at: at - 2, patient: wrong))
            emit(Event(id: "", type: .unlink, subject: anon, at: at + between(3_600_000, 3 * dayMs), patient: wrong))
        }
        emit(Event(id: "", type: .identify, subject: anon, at: at, patient: patient))
    }

    /// Consent to be contacted by text and by email, asked at first contact; a few revoke the
    /// texts months later.
    private mutating func consents(patient: String, at: Int64) {
        if chance(0.7) {
            emit(Event(id: "", type: .consent, subject: patient, at: at, channel: .sms, consentStatus: .granted))
            if chance(0.08) {
                emit(Event(id: "", type: .consent, subject: patient, at: at + between(30, 300) * dayMs, channel: .sms,
                           consentStatus: .revoked))
            }
        }
        if chance(0.8) {
            emit(Event(id: "", type: .consent, subject: patient, at: at + 1, channel: .email, consentStatus: .granted))
        }
    }

    /// Two more recall messages a month apart after one that went unanswered: none is opened,
    /// so a patient who opened earlier reminders shows declining engagement.
    private mutating func unansweredRecalls(patient: String, after t: Int64, start: Int64) {
        for k in 1...2 {
            let at = t + Int64(k) * 30 * dayMs
            guard at - start < horizonMs else { return }
            emit(Event(id: "", type: .messageSent, subject: patient, at: at, channel: .email, campaign: "spring-recall",
                       message: newMessage()))
        }
    }

    private mutating func newConversation() -> String {
        conversationSeq += 1
        return "c-\(conversationSeq)"
    }
    private mutating func newAppointment() -> String {
        appointmentSeq += 1
        return "a-\(appointmentSeq)"
    }
    private mutating func newMessage() -> String {
        messageSeq += 1
        return "m-\(messageSeq)"
    }

    /// Queues an event: it arrives when it happens, or late for a few percent. In the field
    /// shape, a few are sent again a little later (a retry after a lost answer).
    private mutating func emit(_ e: Event) {
        var event = e
        eventSeq += 1
        event.id = "e-\(eventSeq)"
        var arrival = event.at
        if chance(options.lateFraction) {
            arrival += chance(0.8) ? between(3_600_000, 72 * 3_600_000) : between(3, 60) * dayMs
        }
        park(event, arrival: arrival)
        if options.shape == .field && chance(PracticeShape.resentFraction) {
            park(event, arrival: arrival + between(1_000, 600_000))
        }
    }

    /// Holds `event` until its arrival.
    private mutating func park(_ event: Event, arrival: Int64) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            parked[slot] = event
        } else {
            slot = parked.count
            parked.append(event)
        }
        pushSeq += 1
        push(Pending(arrival: arrival, seq: pushSeq, slot: slot))
    }

    // MARK: binary heap (min by arrival)

    private mutating func push(_ p: Pending) {
        heap.append(p)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[i] < heap[parent] { heap.swapAt(i, parent); i = parent } else { break }
        }
    }

    private mutating func popMin() -> Pending {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
