/// A change in a cluster's risk set (SPEC §3.7): a rule of §3.2 started to hold
/// (`risk_entered`) or stopped (`risk_left`), evaluated at the wall clock.
///
/// On the wire and in the store a signal is one JSON object,
/// `{"seq","at","patient","signal","risk","stage","contactable"}`; the store keys it by `seq`
/// and keeps the rest (`storedBytes`), so `seq` is written only when it is read.
public struct Signal: Sendable, Hashable {
    /// Whether the rule started or stopped to hold.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The rule started to hold.
        case riskEntered = "risk_entered"
        /// The rule stopped holding.
        case riskLeft = "risk_left"
    }

    /// The signal's place in the store, dense from 1; 0 until it is stored.
    public var seq: UInt64
    /// When the change happened (ms): the `at` of the event that caused it, or the moment an
    /// elapsed-time threshold passed.
    public var at: Int64
    /// The canonical id of the cluster the change is about.
    public var patient: String
    /// Entered or left.
    public var kind: Kind
    /// The rule that changed.
    public var risk: Risk
    /// The cluster's stage when the change was raised.
    public var stage: Stage
    /// The channels whose latest `consent` is `granted`, in channel order.
    public var contactable: [Channel]

    /// A signal; `seq` is 0 until the store numbers it.
    public init(seq: UInt64 = 0, at: Int64, patient: String, kind: Kind, risk: Risk, stage: Stage, contactable: [Channel]) {
        self.seq = seq
        self.at = at
        self.patient = patient
        self.kind = kind
        self.risk = risk
        self.stage = stage
        self.contactable = contactable
    }

    /// Writes the object with its `seq` first.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("seq"); w.int(Int64(seq))
        writeFields(into: &w)
        w.endObject()
    }

    private func writeFields(into w: inout JSONWriter) {
        w.key("at"); w.time(ms: at)
        w.key("patient"); w.string(patient)
        w.key("signal"); w.string(kind.rawValue)
        w.key("risk"); w.string(risk.name)
        w.key("stage"); w.string(stage.name)
        w.key("contactable"); w.beginArray(); for c in contactable { w.string(c.name) }; w.endArray()
    }

    /// The object as one line of text (without a newline).
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }

    /// The bytes the store keeps: the object without `seq` (the store's key is the seq).
    ///
    /// Written directly rather than through `JSONWriter` (every risk change is encoded on the
    /// write path); the same bytes as `writeFields` in an object. The names of kinds, rules,
    /// stages and channels are plain ASCII, so only the patient id can need escapes.
    package var storedBytes: [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(160 + patient.utf8.count)
        b.append(contentsOf: #"{"at":""#.utf8)
        Timestamp.appendRFC3339(ms: at, to: &b)
        b.append(contentsOf: #"","patient":"#.utf8)
        JSONWriter.appendQuoted(patient, to: &b)
        b.append(contentsOf: #","signal":""#.utf8)
        b.append(contentsOf: kind.rawValue.utf8)
        b.append(contentsOf: #"","risk":""#.utf8)
        b.append(contentsOf: risk.name.utf8)
        b.append(contentsOf: #"","stage":""#.utf8)
        b.append(contentsOf: stage.name.utf8)
        b.append(contentsOf: #"","contactable":["#.utf8)
        for (i, c) in contactable.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            b.append(UInt8(ascii: "\""))
            b.append(contentsOf: c.name.utf8)
            b.append(UInt8(ascii: "\""))
        }
        b.append(contentsOf: "]}".utf8)
        return b
    }

    /// `storedBytes` as `JSONWriter` writes the same object (tests compare the two).
    package var storedBytesWritten: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        writeFields(into: &w)
        w.endObject()
        return w.bytes
    }

    /// The object line of a stored signal: `{"seq":seq,` followed by the stored object's members.
    package static func line(seq: UInt64, stored: UnsafeRawBufferPointer) -> [UInt8] {
        var out = Array("{\"seq\":\(seq)".utf8)
        // The stored object is never empty: it has at least `at`, so a comma joins the members.
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: stored.dropFirst())
        return out
    }

    /// Reads a signal object (as written by `writeJSON`).
    ///
    /// - Throws: `SignalDecodeError` naming the member that is missing or not what it must be.
    public init(json v: JSONValue) throws(SignalDecodeError) {
        guard let seq = v["seq"]?.int64Value, seq >= 1 else { throw SignalDecodeError("\"seq\" is not an integer ≥ 1") }
        guard let atText = v["at"]?.stringValue, let at = Timestamp.parse(atText) else {
            throw SignalDecodeError("\"at\" is not an RFC 3339 time")
        }
        guard let patient = v["patient"]?.stringValue else { throw SignalDecodeError("\"patient\" is not a string") }
        guard let kind = v["signal"]?.stringValue.flatMap(Kind.init(rawValue:)) else {
            throw SignalDecodeError("\"signal\" is not risk_entered or risk_left")
        }
        guard let risk = v["risk"]?.stringValue.flatMap(Risk.init(name:)) else { throw SignalDecodeError("\"risk\" is not a risk rule") }
        guard let stage = v["stage"]?.stringValue.flatMap(Stage.init(name:)) else { throw SignalDecodeError("\"stage\" is not a stage") }
        guard let list = v["contactable"]?.arrayValue else { throw SignalDecodeError("\"contactable\" is not an array") }
        var contactable: [Channel] = []
        for c in list {
            guard let channel = c.stringValue.flatMap(Channel.init(name:)) else {
                throw SignalDecodeError("\"contactable\" holds something that is not a channel")
            }
            contactable.append(channel)
        }
        self.init(seq: UInt64(seq), at: at, patient: patient, kind: kind, risk: risk, stage: stage, contactable: contactable)
    }
}

/// Why a signal object could not be read.
public struct SignalDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the member.
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Risk {
    /// The rule named `name` in reports (`lapsed`, `overdue`, …); nil for another name.
    public init?(name: String) {
        guard let r = Risk.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }
}

extension Stage {
    /// The stage named `name` in reports; nil for another name.
    public init?(name: String) {
        guard let s = Stage.allCases.first(where: { $0.name == name }) else { return nil }
        self = s
    }
}
