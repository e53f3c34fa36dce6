import JourneyCore

/// A SPEC §5 object answered by a query op, flattened into its answer line.
package protocol ReportBody: Sendable, Hashable {
    /// Writes the SPEC §5 object.
    func writeJSON(into w: inout JSONWriter)
    /// Reads the SPEC §5 object (members it does not know, such as `ok`, are ignored).
    init(json: JSONValue) throws(ProjectionJSONError)
}

extension JourneyState: ReportBody {}
extension HandoffContext: ReportBody {}
extension FunnelReport: ReportBody {}
extension ContactsReport: ReportBody {}
extension AtRiskPage: ReportBody {}
extension AppointmentsReport: ReportBody {}
extension PatientsReport: ReportBody {}
extension CohortsReport: ReportBody {}
extension TrendsReport: ReportBody {}
extension ReferralsReport: ReportBody {}
extension SegmentPage: ReportBody {}

/// The answer to a query op: `{"ok":true, …the members of the report…}`, with the `stale`
/// marker when it came from the projections that were live before a rebuild still running.
package struct ReportAnswer<Report: ReportBody>: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// The SPEC §5 object.
    package var report: Report
    /// Set when the answer came from the projections live before a running rebuild.
    package var stale: Stale?

    package init(_ report: Report, stale: Stale? = nil) {
        self.report = report
        self.stale = stale
    }

    package var line: [UInt8] {
        Answer.ok(stale: stale) { report.writeJSON(into: &$0) }
    }

    package init(answer: JSONValue) throws(AnswerError) {
        do {
            report = try Report(json: answer)
        } catch {
            throw AnswerError(error.description)
        }
        stale = try Stale.of(answer)
    }
}

/// The answer to `patient`: the journey state of SPEC §3.2.
package typealias PatientAnswer = ReportAnswer<JourneyState>
/// The answer to `handoff`: the warm-handoff context of SPEC §3.3.
package typealias HandoffAnswer = ReportAnswer<HandoffContext>
/// The answer to `funnel` (SPEC §3.4, §5).
package typealias FunnelAnswer = ReportAnswer<FunnelReport>
/// The answer to `contacts` (SPEC §3.5, §5).
package typealias ContactsAnswer = ReportAnswer<ContactsReport>
/// The answer to `at_risk` (SPEC §5).
package typealias AtRiskAnswer = ReportAnswer<AtRiskPage>
/// The answer to `appointments` (SPEC §3.6, §5).
package typealias AppointmentsAnswer = ReportAnswer<AppointmentsReport>
/// The answer to `patients` (SPEC §3.6, §5).
package typealias PatientsAnswer = ReportAnswer<PatientsReport>
/// The answer to `cohorts` (SPEC §3.6, §5).
package typealias CohortsAnswer = ReportAnswer<CohortsReport>
/// The answer to `trends` (SPEC §3.6, §5).
package typealias TrendsAnswer = ReportAnswer<TrendsReport>
/// The answer to `referrals` (SPEC §3.6, §5).
package typealias ReferralsAnswer = ReportAnswer<ReferralsReport>
/// The answer to `segment` (SPEC §3.6, §5).
package typealias SegmentAnswer = ReportAnswer<SegmentPage>
