@testable import JourneyCore

/// Test helpers for the projection suites: compact event builders on a fixed clock.
enum PJ {
    static let day: Int64 = 86_400_000
    /// 2026-01-01T00:00:00Z.
    static let t0: Int64 = 1_767_225_600_000

    static func ev(
        _ id: String, _ type: EventType, _ subject: String, _ at: Int64,
        channel: Channel? = nil, source: String? = nil, medium: String? = nil, campaign: String? = nil,
        term: String? = nil, agent: String? = nil, conversation: String? = nil, concern: String? = nil,
        resolved: Bool? = nil, direction: Direction? = nil, appointment: String? = nil,
        scheduledFor: Int64? = nil, location: String? = nil, provider: String? = nil,
        amountCents: Int64? = nil, message: String? = nil, referrer: String? = nil,
        patient: String? = nil, toChannel: Channel? = nil, status: EligibilityStatus? = nil
    ) -> Event {
        Event(id: id, type: type, subject: subject, at: at, channel: channel, source: source,
              medium: medium, campaign: campaign, term: term, agent: agent, conversation: conversation,
              concern: concern, resolved: resolved, direction: direction, appointment: appointment,
              scheduledFor: scheduledFor, location: location, provider: provider,
              amountCents: amountCents, message: message, referrer: referrer, patient: patient,
              toChannel: toChannel, status: status)
    }

    static func identify(_ id: String, _ subject: String, _ patient: String, _ at: Int64) -> Event {
        ev(id, .identify, subject, at, patient: patient)
    }

    static func unlink(_ id: String, _ subject: String, _ patient: String, _ at: Int64) -> Event {
        ev(id, .unlink, subject, at, patient: patient)
    }

    /// Folds `events` in order, then rebuilds the clusters unlinks split from them.
    static func fold(_ events: [Event]) -> Projector {
        var p = Projector()
        for e in events { p.apply(e) }
        p.resolveSplits(from: events)
        return p
    }
}
