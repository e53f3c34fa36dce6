import Foundation
import Glibc
import JourneyCore
import Testing
@testable import journeyd

// A real Segment client library, PyPI's analytics-python, pointed at the HTTP API: what a
// website's backend would send. scripts/ensure-segment-client (run by .ci/run) installs it in
// .build/segment-venv; $JOURNEY_SEGMENT_PYTHON names another interpreter that has it.

/// A Python interpreter that can import `segment.analytics`, or why there is none.
private let segmentPython: (path: String?, why: String) = {
    let root = (((#filePath as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent as NSString)
        .deletingLastPathComponent
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["JOURNEY_SEGMENT_PYTHON"] { candidates.append(env) }
    candidates.append(root + "/.build/segment-venv/bin/python")
    for python in candidates where access(python, X_OK) == 0 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import segment.analytics"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { continue }
        p.waitUntilExit()
        if p.terminationStatus == 0 { return (python, "") }
    }
    return (nil, "analytics-python is not installed (looked for \(candidates.joined(separator: ", "))): run scripts/ensure-segment-client")
}()

/// Sends one page, identify, track (mapped and unmapped) and alias with the SDK, then flushes;
/// prints the SDK's errors and exits 1 if there were any.
private let sdkScript = #"""
import sys, datetime
import segment.analytics as analytics
host, key = sys.argv[1], sys.argv[2]
errors = []
analytics.write_key = key
analytics.host = host
analytics.on_error = lambda e, batch: errors.append(str(e))
analytics.max_retries = 0
ts = datetime.datetime(2026, 3, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
analytics.page(anonymous_id='anon-1', name='Home', properties={'path': '/', 'visits': 3},
               context={'campaign': {'source': 'google', 'medium': 'cpc', 'name': 'spring', 'term': 'dentist'}},
               timestamp=ts, message_id='sdk-page-1')
analytics.identify(user_id='patient-1', anonymous_id='anon-1', traits={'email': 'jane@example.com', 'name': 'Jane Public'},
                   timestamp=ts, message_id='sdk-identify-1')
analytics.track(user_id='patient-1', event='Appointment Booked',
                properties={'appointment': 'A-7', 'scheduled_for': '2026-03-10T09:00:00Z', 'location': 'Main St'},
                timestamp=ts, message_id='sdk-track-1')
analytics.track(user_id='patient-1', event='Product Viewed', timestamp=ts, message_id='sdk-track-2')
analytics.alias(previous_id='anon-2', user_id='patient-1', timestamp=ts, message_id='sdk-alias-1')
analytics.flush()
analytics.shutdown()
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
"""#

private func runSDK(_ python: String, port: UInt16, key: String, directory: String) throws -> (status: Int32, output: String) {
    let script = directory + "/send.py"
    try sdkScript.write(toFile: script, atomically: false, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [script, "http://127.0.0.1:\(port)", key]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("Segment SDK (analytics-python) against the HTTP API", .serialized,
       .enabled(if: segmentPython.path != nil, Comment(rawValue: segmentPython.why)))
struct SegmentSDKTests {
    @Test func theSDKsCallsAreStoredAsEvents() throws {
        let api = try RunningHTTPAPI()
        let r = try runSDK(segmentPython.path!, port: api.port, key: RunningHTTPAPI.writeKey, directory: api.directory.path)
        #expect(r.status == 0, "\(r.output)")
        #expect(try api.stored() == [
            #"{"id":"sdk-page-1","type":"web_visit","subject":"anon-1","at":"2026-03-01T10:00:00.000Z","source":"google","medium":"cpc","campaign":"spring","term":"dentist","attrs":{"name":"Home","path":"/"}}"#,
            #"{"id":"sdk-identify-1","type":"identify","subject":"anon-1","at":"2026-03-01T10:00:00.000Z","patient":"patient-1"}"#,
            #"{"id":"sdk-track-1","type":"booking","subject":"patient-1","at":"2026-03-01T10:00:00.000Z","appointment":"A-7","scheduled_for":"2026-03-10T09:00:00.000Z","location":"Main St"}"#,
            #"{"id":"sdk-alias-1","type":"identify","subject":"anon-2","at":"2026-03-01T10:00:00.000Z","patient":"patient-1"}"#,
        ])
        // The journey joins the anonymous visit to the patient.
        let state = try #require(try api.engine.patient(id: "anon-1", asOf: 1_900_000_000_000, as: "segment-sdk-tests"))
        #expect(state.patient == "patient-1")
        // Sent again: all duplicates, nothing new.
        let again = try runSDK(segmentPython.path!, port: api.port, key: RunningHTTPAPI.writeKey, directory: api.directory.path)
        #expect(again.status == 0, "\(again.output)")
        #expect(try api.stored().count == 4)
    }

    @Test func aWrongWriteKeyIsReportedToTheSDKAndStoresNothing() throws {
        let api = try RunningHTTPAPI()
        let r = try runSDK(segmentPython.path!, port: api.port, key: "not-the-key", directory: api.directory.path)
        #expect(r.status == 1)
        #expect(r.output.contains("unauthorized"), "\(r.output)")
        #expect(r.output.contains("401"), "\(r.output)")
        #expect(try api.stored().isEmpty)
    }
}
